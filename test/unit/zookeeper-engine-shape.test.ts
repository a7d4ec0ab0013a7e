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

test('addWatch rides on the library\'s request path: a change to how it assigns xids, parses a SET_WATCHES reply, queues, or numbers opcodes is refused', () => {
  const manager = libraryShape().client as { connectionManager: object };
  const proto = Object.getPrototypeOf(manager.connectionManager) as Record<string, unknown>;
  const withPrototype = (member: string, replacement: () => void): LibraryShape => {
    const shape = libraryShape();
    const client = shape.client as { connectionManager: object };
    const fakeProto = Object.assign(Object.create(proto) as Record<string, unknown>, { [member]: replacement });
    client.connectionManager = Object.assign(Object.create(fakeProto) as object, client.connectionManager);
    return shape;
  };
  // The xid assigned after the request is serialized (toBuffer would write a stale xid).
  assert.match(
    refusal(withPrototype('onPacketQueueReadable', function onPacketQueueReadable(this: { socket: { write(b: Buffer): void }; xid: number }): void {
      const packet = { request: { header: { xid: 0 }, toBuffer: () => Buffer.alloc(0) } };
      this.socket.write(packet.request.toBuffer());
      packet.request.header.xid = this.xid;
    })).message,
    /onPacketQueueReadable no longer assigns header\.xid before request\.toBuffer/,
  );
  // A SET_WATCHES reply parsed with a payload (addWatch's reply would be misread).
  assert.match(refusal(withPrototype('onSocketData', function onSocketData(): void {})).message, /onSocketData no longer takes a SET_WATCHES reply as empty/);
  assert.match(refusal(altered(['client', 'connectionManager', 'queue'])).message, /connectionManager\.queue is not a function/);
  assert.match(refusal({ ...libraryShape(), opCodes: { SET_WATCHES: 102 } }).message, /OP_CODES\.SET_WATCHES is not 101/);
  assert.match(refusal({ ...libraryShape(), opCodes: { SET_WATCHES: 101, ADD_WATCH: 106 } }).message, /OP_CODES has 106/);
});
