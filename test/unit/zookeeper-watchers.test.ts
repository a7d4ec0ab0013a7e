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
