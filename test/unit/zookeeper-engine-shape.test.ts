import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LighthouseError } from '../../src/lib/errors.js';
import { checkLibraryShape, libraryShape, type LibraryShape } from '../../src/discovery/zookeeper/engine-node-zookeeper-client.js';

/** The installed library's shape with one member taken away (or replaced) along `path`. */
function altered(path: string[], value?: unknown): LibraryShape {
  const shape = libraryShape();
  let target = shape as unknown as Record<string, unknown>;
  for (const key of path.slice(0, -1)) {
    // Copy along the path with the prototype kept, so the real library objects are not changed.
    const inner = target[key] as Record<string, unknown>;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(inner) as object) as Record<string, unknown>, inner);
    target[key] = copy;
    target = copy;
  }
  const last = path.at(-1)!;
  if (value === undefined) {
    // Shadow a prototype method with undefined (delete alone would find it on the prototype).
    target[last] = undefined;
  } else target[last] = value;
  return shape;
}

function refusal(shape: LibraryShape): LighthouseError {
  try {
    checkLibraryShape(shape);
  } catch (error) {
    assert.ok(error instanceof LighthouseError, `a LighthouseError, got ${String(error)}`);
    return error;
  }
  assert.fail('the shape check accepted a changed library');
}

test('the installed node-zookeeper-client has the shape the engine patches', () => {
  assert.doesNotThrow(() => checkLibraryShape(libraryShape()));
});

test('a missing onSocketData is refused with LH_ZK_LIBRARY naming the member and the version', () => {
  const error = refusal(altered(['client', 'connectionManager', 'onSocketData']));
  assert.equal(error.code, 'LH_ZK_LIBRARY');
  assert.match(error.message, /connectionManager\.onSocketData is not a function/);
  assert.match(error.message, /node-zookeeper-client 1\.1\.3/);
});

test('a watcher manager with a method WatcherRegistry lacks, or without one it has, is refused', () => {
  const extra = altered(['client', 'connectionManager', 'watcherManager', 'removeWatcher'], () => undefined);
  assert.match(refusal(extra).message, /watcherManager\.removeWatcher is new/);
  const missing = altered(['client', 'connectionManager', 'watcherManager', 'getExistenceWatcherPaths']);
  assert.match(refusal(missing).message, /watcherManager\.getExistenceWatcherPaths is missing/);
});

test('renumbered connection states, a transaction without ops, and no connection manager are each named', () => {
  assert.match(refusal(altered(['states', 'SESSION_EXPIRED'], -5)).message, /STATES\.SESSION_EXPIRED is not -3/);
  assert.match(refusal(altered(['transaction', 'ops'], new Map())).message, /transaction\.ops is not an array/);
  assert.match(refusal(altered(['client', 'connectionManager'], null)).message, /client\.connectionManager is not an object/);
  // A version whose package `exports` hides lib/ConnectionManager.js: the states cannot be read at all.
  assert.match(refusal({ ...libraryShape(), states: undefined }).message, /ConnectionManager\.STATES is not an object/);
});

test('a connect that no longer binds onSocketData per socket is refused (the frame splitter would be bypassed)', () => {
  assert.match(refusal(altered(['client', 'connectionManager', 'connect'], function connect(): void {})).message, /binds \.onSocketData/);
});
