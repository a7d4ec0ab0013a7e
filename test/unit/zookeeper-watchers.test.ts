import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Watcher } from '../../src/discovery/zookeeper/engine.js';
import { WatchEventType, WatcherRegistry } from '../../src/discovery/zookeeper/engine-node-zookeeper-client-watchers.js';

const { NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED, NODE_CHILDREN_CHANGED } = WatchEventType;

function recorder(): { calls: string[]; watcher: (name: string) => Watcher } {
  const calls: string[] = [];
  return { calls, watcher: (name) => (event) => calls.push(`${name}:${event.type}@${event.path}`) };
}

test('a watcher fires once, and passing it again for the same path does not stack it', () => {
  const registry = new WatcherRegistry();
  const { calls, watcher } = recorder();
  const a = watcher('a');
  registry.registerDataWatcher('/x', a);
  registry.registerDataWatcher('/x', a);
  registry.emit({ type: NODE_DATA_CHANGED, path: '/x' });
  registry.emit({ type: NODE_DATA_CHANGED, path: '/x' });
  assert.deepEqual(calls, ['a:dataChanged@/x']);
  assert.equal(registry.isEmpty(), true);
});

test('several watchers of one path fire in registration order; data before existence and child', () => {
  const registry = new WatcherRegistry();
  const { calls, watcher } = recorder();
  const [a, b, e, c] = [watcher('a'), watcher('b'), watcher('e'), watcher('c')];
  registry.registerExistenceWatcher('/x', e);
  registry.registerDataWatcher('/x', a);
  registry.registerDataWatcher('/x', b);
  registry.registerDataWatcher('/x', a);
  registry.registerChildWatcher('/x', c);
  registry.emit({ type: NODE_CREATED, path: '/x' });
  assert.deepEqual(calls, ['a:created@/x', 'b:created@/x', 'e:created@/x']);
  calls.length = 0;
  registry.emit({ type: NODE_CHILDREN_CHANGED, path: '/x' });
  assert.deepEqual(calls, ['c:childrenChanged@/x']);
});

test('a deletion fires data and child watchers, not existence watchers', () => {
  const registry = new WatcherRegistry();
  const { calls, watcher } = recorder();
  registry.registerDataWatcher('/x', watcher('d'));
  registry.registerChildWatcher('/x', watcher('c'));
  registry.registerExistenceWatcher('/x', watcher('e'));
  registry.emit({ type: NODE_DELETED, path: '/x' });
  assert.deepEqual(calls, ['d:deleted@/x', 'c:deleted@/x']);
  assert.deepEqual(registry.getExistenceWatcherPaths(), ['/x']);
  assert.equal(registry.isEmpty(), false);
});

test('the paths to restore after a reconnect are those still armed; a watcher re-armed while firing stays armed', () => {
  const registry = new WatcherRegistry();
  const rearm = (): void => registry.registerDataWatcher('/a', rearm);
  registry.registerDataWatcher('/a', rearm);
  registry.registerDataWatcher('/b', () => undefined);
  registry.registerChildWatcher('/folder', () => undefined);
  registry.emit({ type: NODE_DATA_CHANGED, path: '/b' });
  registry.emit({ type: NODE_DATA_CHANGED, path: '/a' });
  registry.emit({ type: NODE_DATA_CHANGED, path: '/elsewhere' });
  assert.deepEqual(registry.getDataWatcherPaths(), ['/a']);
  assert.deepEqual(registry.getChildWatcherPaths(), ['/folder']);
});

test('a persistent recursive root hears its own and every descendant\'s created / deleted / dataChanged, stays registered, never childrenChanged', () => {
  const registry = new WatcherRegistry();
  const { calls, watcher } = recorder();
  registry.addPersistentRecursive('/a/b', watcher('p'));
  registry.emit({ type: NODE_CREATED, path: '/a/b/m1' });
  registry.emit({ type: NODE_DATA_CHANGED, path: '/a/b/m1' });
  registry.emit({ type: NODE_DELETED, path: '/a/b/m1/deep' });
  registry.emit({ type: NODE_DELETED, path: '/a/b' });
  registry.emit({ type: NODE_CHILDREN_CHANGED, path: '/a/b' });
  registry.emit({ type: NODE_CREATED, path: '/a/bc' });
  registry.emit({ type: NODE_CREATED, path: '/a' });
  assert.deepEqual(calls, ['p:created@/a/b/m1', 'p:dataChanged@/a/b/m1', 'p:deleted@/a/b/m1/deep', 'p:deleted@/a/b']);
  // Not part of what the library restores with SET_WATCHES (isEmpty decides whether it sends one).
  assert.equal(registry.isEmpty(), true);
  assert.deepEqual(registry.getDataWatcherPaths(), []);
});

test('a root at / hears everything', () => {
  const registry = new WatcherRegistry();
  const { calls, watcher } = recorder();
  registry.addPersistentRecursive('/', watcher('r'));
  registry.emit({ type: NODE_CREATED, path: '/x' });
  registry.emit({ type: NODE_DELETED, path: '/' });
  assert.deepEqual(calls, ['r:created@/x', 'r:deleted@/']);
});

test('one notification matching a one-shot data watch and a persistent root calls the same function once, and other functions once each', () => {
  const registry = new WatcherRegistry();
  const { calls, watcher } = recorder();
  const same = watcher('same');
  const other = watcher('other');
  registry.addPersistentRecursive('/a', same);
  registry.addPersistentRecursive('/a/m', other);
  registry.registerDataWatcher('/a/m', same);
  registry.emit({ type: NODE_DATA_CHANGED, path: '/a/m' });
  assert.deepEqual(calls, ['same:dataChanged@/a/m', 'other:dataChanged@/a/m']);
  calls.length = 0;
  // The one-shot is gone, the roots stay (the innermost root first).
  registry.emit({ type: NODE_DATA_CHANGED, path: '/a/m' });
  assert.deepEqual(calls, ['other:dataChanged@/a/m', 'same:dataChanged@/a/m']);
});

test('removing a persistent root\'s watcher silences it and leaves the root\'s other watchers', () => {
  const registry = new WatcherRegistry();
  const { calls, watcher } = recorder();
  const a = watcher('a');
  const b = watcher('b');
  registry.addPersistentRecursive('/r', a);
  registry.addPersistentRecursive('/r', b);
  registry.addPersistentRecursive('/r', a);
  registry.removePersistentRecursive('/r', a);
  registry.emit({ type: NODE_CREATED, path: '/r/x' });
  registry.removePersistentRecursive('/r', b);
  registry.emit({ type: NODE_CREATED, path: '/r/y' });
  assert.deepEqual(calls, ['b:created@/r/x']);
  assert.equal(registry.persistentRoots, 0);
});
