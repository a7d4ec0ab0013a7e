import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterStateStore } from '../../src/writer/cluster-state.js';
import type { ClusterNode } from '../../src/discovery/node.js';

const node = (host: string, port: number, metadata = {}): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata, peer: null });

test('the first report is a change even when empty; identical sets are ignored', () => {
  const store = new ClusterStateStore(() => 1);
  assert.equal(store.update({ cluster: 'web', members: [], rejected: [] })?.revision, 1);
  assert.equal(store.update({ cluster: 'web', members: [], rejected: [] }), undefined);
  const change = store.update({ cluster: 'web', members: [node('a', 1)], rejected: [] });
  assert.deepEqual(change?.added.map((n) => n.host), ['a']);
  assert.equal(change?.revision, 2);
  assert.equal(store.update({ cluster: 'web', members: [node('a', 1)], rejected: [] }), undefined);
});

test('added, removed and changed members are told apart; duplicates collapse', () => {
  const store = new ClusterStateStore();
  store.update({ cluster: 'web', members: [node('a', 1), node('b', 1)], rejected: [] });
  const change = store.update({ cluster: 'web', members: [node('b', 1, { v: 2 }), node('c', 1), node('c', 1)], rejected: [] });
  assert.deepEqual(change?.added.map((n) => n.host), ['c']);
  assert.deepEqual(change?.removed.map((n) => n.host), ['a']);
  assert.deepEqual(change?.changed.map((n) => n.host), ['b']);
  assert.equal(store.get('web').members.length, 2);
});

test('members are kept until discovery reports a new set; forget drops a cluster', () => {
  const store = new ClusterStateStore();
  store.update({ cluster: 'web', members: [node('a', 1)], rejected: [] });
  assert.equal(store.get('web').members.length, 1);
  store.forget('web');
  assert.equal(store.get('web').revision, 0);
  assert.deepEqual(store.get('web').members, []);
});

test('one host:port listed twice with different data: the first is the member, as discovery decides (member-dedupe.ts)', () => {
  const store = new ClusterStateStore();
  store.update({ cluster: 'web', members: [node('a', 1, { copy: 'first' }), node('b', 1), node('a', 1, { copy: 'second' })], rejected: [] });
  assert.deepEqual(
    store.get('web').members.map((n) => [n.host, n.metadata]),
    [
      ['a', { copy: 'first' }],
      ['b', {}],
    ],
  );
  store.seed('api', [node('c', 1, { copy: 'first' }), node('c', 1, { copy: 'second' })]);
  assert.deepEqual(store.get('api').members.map((n) => n.metadata), [{ copy: 'first' }]);
});
