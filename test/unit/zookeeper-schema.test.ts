import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zookeeperConfigSchema } from '../../src/discovery/zookeeper/schema.js';
import { ancestors, znodePath } from '../../src/discovery/zookeeper/paths.js';
import { digestId } from '../../src/discovery/zookeeper/acl.js';

test('schema: defaults and accepted forms', () => {
  const config = zookeeperConfigSchema.parse({ hosts: ['zk1:2181', '10.0.0.1:2181'], path: '/lighthouse/services' });
  assert.equal(config.session_timeout_ms, 10_000);
  assert.equal(config.operation_timeout_ms, 5_000);
  assert.equal(config.connect_timeout_ms, undefined);
  assert.ok(zookeeperConfigSchema.safeParse({ hosts: ['zk:1'], path: '/a', auth: { scheme: 'digest', user: 'u', password: 'p' } }).success);
  assert.ok(zookeeperConfigSchema.safeParse({ hosts: ['zk:1'], path: '/a', auth: { scheme: 'digest', secrets_file: '/etc/zk' } }).success);
});

const invalid: [string, Record<string, unknown>][] = [
  ['missing hosts', { path: '/a' }],
  ['empty hosts', { hosts: [], path: '/a' }],
  ['host without port', { hosts: ['zk1'], path: '/a' }],
  ['port out of range', { hosts: ['zk1:70000'], path: '/a' }],
  ['missing path', { hosts: ['zk:1'] }],
  ['relative path', { hosts: ['zk:1'], path: 'a/b' }],
  ['trailing slash', { hosts: ['zk:1'], path: '/a/' }],
  ['root path', { hosts: ['zk:1'], path: '/' }],
  ['dot-dot segment', { hosts: ['zk:1'], path: '/a/../b' }],
  ['reserved /zookeeper', { hosts: ['zk:1'], path: '/zookeeper/x' }],
  ['unknown setting', { hosts: ['zk:1'], path: '/a', timeout: 5 }],
  ['unknown auth scheme', { hosts: ['zk:1'], path: '/a', auth: { scheme: 'sasl', user: 'u', password: 'p' } }],
  ['user with a colon', { hosts: ['zk:1'], path: '/a', auth: { scheme: 'digest', user: 'u:v', password: 'p' } }],
  ['password and secrets file', { hosts: ['zk:1'], path: '/a', auth: { scheme: 'digest', user: 'u', password: 'p', secrets_file: '/x' } }],
];
for (const [what, config] of invalid) {
  test(`schema rejects ${what}`, () => {
    assert.equal(zookeeperConfigSchema.safeParse(config).success, false);
  });
}

test('znode paths cannot escape the base path', () => {
  assert.equal(znodePath('/lh', 'web', 'a.example.com:80'), '/lh/web/a.example.com:80');
  for (const bad of ['..', '.', 'a/b', '', 'a b', 'a\nb']) assert.throws(() => znodePath('/lh', bad), /not a valid znode name/);
  assert.deepEqual(ancestors('/a/b/c'), ['/a', '/a/b']);
});

test('digest identity matches ZooKeeper\'s DigestAuthenticationProvider', () => {
  // java ... org.apache.zookeeper.server.auth.DigestAuthenticationProvider super:secret
  assert.equal(digestId({ user: 'super', password: 'secret' }), 'super:lK75jTNcA+U9vtVEw5vB51mj/w4=');
});

test('acks_path: writer-acks next to path by default, or as set; the same rules as path', async () => {
  const { acksPathOf } = await import('../../src/discovery/zookeeper/schema.js');
  const { acksPrefixOf, etcdConfigSchema } = await import('../../src/discovery/etcd/schema.js');
  assert.equal(acksPathOf(zookeeperConfigSchema.parse({ hosts: ['zk:1'], path: '/lighthouse/services' })), '/lighthouse/writer-acks');
  assert.equal(acksPathOf(zookeeperConfigSchema.parse({ hosts: ['zk:1'], path: '/services' })), '/writer-acks');
  assert.equal(acksPathOf(zookeeperConfigSchema.parse({ hosts: ['zk:1'], path: '/a', acks_path: '/ops/acks' })), '/ops/acks');
  assert.ok(!zookeeperConfigSchema.safeParse({ hosts: ['zk:1'], path: '/a', acks_path: 'acks' }).success);
  assert.ok(!zookeeperConfigSchema.safeParse({ hosts: ['zk:1'], path: '/a', acks_path: '/zookeeper/acks' }).success);
  assert.equal(acksPrefixOf(etcdConfigSchema.parse({ endpoints: ['http://127.0.0.1:2379'], prefix: '/lighthouse/services' })), '/lighthouse/writer-acks');
  assert.ok(!etcdConfigSchema.safeParse({ endpoints: ['http://127.0.0.1:2379'], prefix: '/a', acks_prefix: '/a/../b' }).success);
});
