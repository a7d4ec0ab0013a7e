import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterPrefix, keyAfter, prefixEnd, registrationKey } from '../../src/discovery/etcd/keys.js';
import { LighthouseError } from '../../src/lib/errors.js';

test('prefixEnd is the first key after every key with the prefix', () => {
  assert.deepEqual(prefixEnd(Buffer.from('/lh/web/')), Buffer.from('/lh/web0'));
  assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  assert.deepEqual(prefixEnd(Buffer.from([0xff, 0xff])), Buffer.from([0]), 'all 0xff: to the end of the keyspace');
  // The cluster "web" must not include "web2": the prefix ends in "/".
  const end = prefixEnd(Buffer.from(clusterPrefix('/lh', 'web')));
  assert.ok(Buffer.compare(Buffer.from('/lh/web/a:1'), end) < 0);
  assert.ok(Buffer.compare(Buffer.from('/lh/web2/a:1'), end) >= 0);
});

test('keyAfter is the smallest key greater than the given one', () => {
  assert.deepEqual(keyAfter(Buffer.from('a')), Buffer.from([0x61, 0]));
});

test('registration keys mirror the ZooKeeper layout and refuse what could make them ambiguous', () => {
  assert.equal(registrationKey('/lighthouse/services', 'web', 'web1.example.com:8080'), '/lighthouse/services/web/web1.example.com:8080');
  for (const [service, node] of [['..', 'a:1'], ['a/b', 'a:1'], ['web', 'a/b:1'], ['web', 'nohostport'], ['', 'a:1']]) {
    assert.throws(() => registrationKey('/lh', service!, node!), (error: unknown) => error instanceof LighthouseError && error.code === 'LH_ETCD_OPERATION', `${service} ${node}`);
  }
});
