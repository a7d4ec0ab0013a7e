import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterStateStore } from '../../src/writer/cluster-state.js';
import { DEFAULT_REMOVAL_GUARD } from '../../src/writer/removal-guard.js';
import type { ClusterNode } from '../../src/discovery/node.js';

const node = (host: string, port = 1): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata: {}, peer: null });
const nodes = (...hosts: string[]) => hosts.map((host) => node(host));
const set = (members: ClusterNode[]) => ({ cluster: 'web', members, rejected: [] });
const hosts = (members: readonly ClusterNode[]) => members.map((member) => member.host);

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('an empty list keeps the members it would remove, and their return ends the hold', () => {
  const store = new ClusterStateStore();
  store.update(set(nodes('a', 'b', 'c', 'd', 'e')));
  assert.equal(store.update(set([])), undefined, 'nothing changes for the balancer');
  const held = store.get('web');
  assert.deepEqual(hosts(held.members), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(held.held.length, 5);
  assert.equal(held.listed, 0);
  assert.deepEqual({ listed: held.hold?.listed, reference: held.hold?.reference, floor: held.hold?.floor }, { listed: 0, reference: 5, floor: 2.5 });
  store.update(set(nodes('a', 'b', 'c', 'd', 'e')));
  assert.equal(store.get('web').hold, undefined);
  assert.equal(store.get('web').held.length, 0);
});

test('a single node leaving is removed at once; the panic threshold holds a drop below half', () => {
  const store = new ClusterStateStore();
  store.update(set(nodes('a', 'b', 'c', 'd', 'e')));
  const one = store.update(set(nodes('a', 'b', 'c', 'd')));
  assert.deepEqual(hosts(one?.removed ?? []), ['e']);
  assert.equal(store.get('web').hold, undefined);
  store.update(set(nodes('a')));
  assert.deepEqual(hosts(store.get('web').members), ['a', 'b', 'c', 'd'], '1 of 4 is below half: b, c, d held');
  assert.equal(store.get('web').held.length, 3);
});

test('members vanishing over several events within the window count as one drop', () => {
  const time = clock();
  const store = new ClusterStateStore(time.now);
  store.update(set(nodes('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j')));
  for (const remaining of [8, 6, 5]) {
    time.advance(50);
    store.update(set(nodes(...'abcdefghij'.slice(0, remaining).split(''))));
    assert.equal(store.get('web').hold, undefined, `${remaining} of 10 is not below half`);
  }
  time.advance(50);
  store.update(set(nodes('a', 'b', 'c')));
  assert.equal(store.get('web').hold?.reference, 10, 'measured against the 10 listed 200 ms ago, not the 5 of the last event');
  assert.deepEqual(hosts(store.get('web').members), ['a', 'b', 'c', 'd', 'e']);
});

test('a slow scale-down (one at a time, beyond the window) is never held', () => {
  const time = clock();
  const store = new ClusterStateStore(time.now);
  const all = 'abcdefghij'.split('');
  store.update(set(nodes(...all)));
  for (let remaining = 9; remaining >= 1; remaining -= 1) {
    time.advance(DEFAULT_REMOVAL_GUARD.windowMs + 1);
    store.update(set(nodes(...all.slice(0, remaining))));
    assert.equal(store.get('web').hold, undefined, `${remaining} left`);
  }
  time.advance(DEFAULT_REMOVAL_GUARD.windowMs + 1);
  store.update(set([]));
  assert.deepEqual(hosts(store.get('web').members), ['a'], 'but the last one is kept: an empty list never empties a backend');
});

test('switched off, the backend empties as before; switching it off releases a hold', () => {
  const store = new ClusterStateStore();
  store.update(set(nodes('a', 'b', 'c')));
  store.update(set([]));
  assert.equal(store.get('web').members.length, 3);
  const change = store.configureGuard('web', { ...DEFAULT_REMOVAL_GUARD, enabled: false });
  assert.deepEqual(hosts(change?.removed ?? []), ['a', 'b', 'c']);
  assert.equal(store.get('web').members.length, 0);
  store.update(set(nodes('a', 'b', 'c')));
  const off = store.update(set([]));
  assert.equal(off?.removed.length, 3);
});

test('min_members 0 and panic_threshold 0 opt out of the empty-list rule', () => {
  const store = new ClusterStateStore();
  store.configureGuard('web', { ...DEFAULT_REMOVAL_GUARD, minMembers: 0, panicThreshold: 0 });
  store.update(set(nodes('a', 'b')));
  assert.equal(store.update(set([]))?.removed.length, 2);
});

test('an operator release removes the held members and does not hold the same drop again', () => {
  const store = new ClusterStateStore();
  store.update(set(nodes('a', 'b', 'c', 'd')));
  store.update(set(nodes('a')));
  const change = store.release('web');
  assert.deepEqual(hosts(change?.removed ?? []), ['b', 'c', 'd']);
  assert.equal(store.get('web').hold, undefined);
  assert.equal(store.update(set([])), undefined, 'the last one is still guarded by the empty-list rule');
  assert.equal(store.get('web').held.length, 1);
});

test('held members found dead are removed; the others stay held; all dead ends the hold', () => {
  const store = new ClusterStateStore();
  store.update(set(nodes('a', 'b', 'c')));
  store.update(set([]));
  assert.deepEqual(hosts(store.dropHeld('web', ['b:1'])?.removed ?? []), ['b']);
  assert.deepEqual(hosts(store.get('web').members), ['a', 'c']);
  store.dropHeld('web', ['a:1', 'c:1']);
  assert.equal(store.get('web').members.length, 0);
  assert.equal(store.get('web').hold, undefined);
});

test('members seeded from the cache count: an empty first report is held', () => {
  const store = new ClusterStateStore();
  store.seed('web', nodes('a', 'b'));
  store.update(set([]));
  assert.deepEqual(hosts(store.get('web').members), ['a', 'b']);
  assert.equal(store.get('web').revision, 1, 'the first report still counts as heard from discovery');
});

test('releasing an empty hold empties the backend; members that register and vanish again are held again', () => {
  const store = new ClusterStateStore();
  store.update(set(nodes('a', 'b')));
  store.update(set([]));
  assert.deepEqual(hosts(store.release('web')?.removed ?? []), ['a', 'b']);
  assert.equal(store.get('web').members.length, 0);
  store.update(set(nodes('c', 'd')));
  store.update(set([]));
  assert.deepEqual(hosts(store.get('web').held), ['c', 'd']);
});

test('a hold in force is judged by new settings at once', () => {
  const store = new ClusterStateStore();
  store.update(set(nodes('a', 'b', 'c', 'd')));
  store.update(set(nodes('a')));
  assert.equal(store.get('web').held.length, 3);
  assert.equal(store.configureGuard('web', { ...DEFAULT_REMOVAL_GUARD, panicThreshold: 0.2 })?.removed.length, 3, '1 of 4 is not below a fifth');
  store.update(set(nodes('a', 'b', 'c', 'd')));
  store.update(set([]));
  assert.equal(store.configureGuard('web', { ...DEFAULT_REMOVAL_GUARD, minMembers: 0, panicThreshold: 0 })?.removed.length, 4);
});
