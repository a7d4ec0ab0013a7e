import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import type { DrainingServer } from '../../src/balancer/types.js';
import { decodeAck, memberDigest, type WriterAck } from '../../src/discovery/ack-record.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import type { RecordStore } from '../../src/discovery/types.js';
import { silentLogger } from '../../src/lib/logger.js';
import { AckPublisher } from '../../src/writer/ack-publisher.js';
import { waitFor } from '../support/wait-for.js';

const node = (host: string, port = 80): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata: {}, peer: null });

function setup(options: { failing?: () => boolean; draining?: () => DrainingServer[] } = {}) {
  const written: WriterAck[] = [];
  const attempts = { count: 0 };
  const store: RecordStore = {
    location: '/lh/writer-acks',
    async publish(_name, data) {
      attempts.count += 1;
      if (options.failing?.()) throw new Error('connection loss');
      const decoded = decodeAck(data);
      assert.ok(decoded.ok, data);
      written.push(decoded.ack);
    },
    async read() {
      return new Map();
    },
  };
  const writes = new Counter({ name: 'acks_test', help: 'x', labelNames: ['discovery', 'result'] as const, registers: [new Registry()] });
  const publisher = new AckPublisher({
    host: 'web-1',
    configDir: '/etc/lh',
    stateDir: '/var/lib/lh',
    logger: silentLogger(),
    store: () => store,
    draining: async () => options.draining?.() ?? [],
    writes,
    minIntervalMs: 100,
    drainPollMs: 50,
  });
  return { publisher, written, attempts };
}

test('a burst of changes costs one write right away and one for the rest, at most one per interval', async () => {
  const { publisher, written } = setup();
  let members = [node('a'), node('b')];
  for (let version = 1; version <= 50; version += 1) {
    members = [...members];
    publisher.applied([{ cluster: 'web', discovery: 'zk', version: String(version), members, held: [] }]);
  }
  await waitFor(() => written.at(-1)?.clusters.web?.version === '50', 'the last version written');
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.ok(written.length <= 2, `${written.length} writes for one burst`);
  assert.equal(written.at(-1)!.clusters.web!.digest, memberDigest(members));
  // Nothing changed: nothing written.
  publisher.applied([{ cluster: 'web', discovery: 'zk', version: '50', members, held: [] }]);
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.ok(written.length <= 2);
  publisher.close();
});

test('a new session writes the record again; a failed write is retried', async () => {
  let fail = true;
  const { publisher, written } = setup({ failing: () => fail });
  publisher.applied([{ cluster: 'web', discovery: 'zk', version: '7', members: [node('a')], held: [node('b')] }]);
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(written.length, 0);
  fail = false;
  await waitFor(() => written.length === 1, 'the retried write');
  assert.deepEqual(written[0]!.clusters.web!.held, ['b:80']);
  publisher.renewed('zk');
  await waitFor(() => written.length === 2, 'the write for the new session');
  publisher.close();
});

test('sessions on draining servers are followed while there are any, and the record says when they are gone', async () => {
  let sessions = 3;
  const { publisher, written } = setup({ draining: () => (sessions > 0 ? [{ cluster: 'web', server: 'a:80', sessions }] : []) });
  publisher.applied([{ cluster: 'web', discovery: 'zk', version: '8', members: [node('b')], held: [] }]);
  await waitFor(() => written.at(-1)?.clusters.web?.draining['a:80'] === 3, 'the draining sessions');
  sessions = 0;
  await waitFor(() => written.length >= 2 && Object.keys(written.at(-1)!.clusters.web!.draining).length === 0, 'the sessions gone');
  publisher.close();
});

test('a record the writer may not write (an ACL, an etcd role) is retried with backoff, not once per interval for ever; a reconnect retries at once', async () => {
  const { publisher, written, attempts } = setup({ failing: () => true });
  publisher.applied([{ cluster: 'web', discovery: 'zk', version: '1', members: [node('a')], held: [] }]);
  await new Promise((resolve) => setTimeout(resolve, 1_600));
  // minIntervalMs is 100 here: without backoff that would be ~16 attempts.
  assert.ok(attempts.count <= 3, `${attempts.count} attempts in 1.6 s`);
  assert.equal(written.length, 0);
  const before = attempts.count;
  publisher.reconnected('zk');
  await waitFor(() => attempts.count > before, 'a retry right after the reconnect', 500);
  publisher.close();
});

test('the member digest is the same in any input order and the same value as before (writers of two versions compare it)', () => {
  const n = (host: string, port: number, metadata = {}): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata, peer: null });
  const members = [n('b.example', 80), n('a.example', 80, { zone: 'x' }), n('a.example', 81)];
  // Computed by the digest of 2026-11-29's main (sort by host:port, each encoding followed by a line break).
  assert.equal(memberDigest(members), '28e33d55ae8515dd');
  assert.equal(memberDigest([members[1]!, members[2]!, members[0]!]), '28e33d55ae8515dd');
  assert.equal(memberDigest([...members].reverse()), '28e33d55ae8515dd');
  assert.notEqual(memberDigest(members.slice(1)), '28e33d55ae8515dd');
});
