import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitForAcks } from '../../src/cli/drain-wait.js';
import { ACK_FORMAT, encodeAck, memberDigest, type ClusterAck } from '../../src/discovery/ack-record.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import type { Discovery, MemberSet, RecordStore } from '../../src/discovery/types.js';

const node = (host: string, port = 80): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata: {}, peer: null });
const ITEM = { name: 'zk', file: '/etc/lh/discovery/zk.yaml' };
/** Discovery lists `b` only: `a:80` is drained. */
const AFTER: MemberSet = { cluster: 'web', members: [node('b')], rejected: [], version: '100' };

function backend(records: Map<string, string>): Discovery {
  const acks: RecordStore = { location: '/lh/writer-acks', publish: async () => undefined, read: async () => new Map(records) };
  return { name: 'zk', state: 'connected', acks, connect() {}, watch: () => ({ close() {} }), publish: async () => undefined, unpublish: async () => undefined, isPublished: async () => false, close: async () => undefined } as Discovery;
}

function ack(writer: string, entry: Partial<ClusterAck>): string {
  return encodeAck({
    format: ACK_FORMAT, writer, host: writer, pid: 1, configDir: '/c', stateDir: '/s', discovery: 'zk', lighthouse: '0.1.0', writtenAt: '',
    clusters: { web: { version: '100', digest: memberDigest(AFTER.members), members: 1, appliedAt: null, held: [], draining: {}, ...entry } },
  });
}

const wait = (discovery: Discovery, timeoutMs = 400) => waitForAcks(discovery, ITEM, { latest: () => AFTER }, { cluster: 'web', nodes: ['a:80'], want: 'absent' }, timeoutMs, 20);

test('every writer at the version (or on the same set at an older one) without the node: acknowledged', async () => {
  const records = new Map([
    ['w1', ack('w1', {})],
    ['w2', ack('w2', { version: '90' })],
  ]);
  const outcome = await wait(backend(records));
  assert.ok(outcome.ok);
  assert.deepEqual(outcome.writers.map((writer) => writer.writer), ['w1', 'w2']);
});

test('a writer that holds the node, has sessions on it, or runs an older set is named with why', async () => {
  const records = new Map([
    ['w1', ack('w1', { held: ['a:80'] })],
    ['w2', ack('w2', { draining: { 'a:80': 3 } })],
    ['w3', ack('w3', { version: '90', digest: 'older' })],
    ['w4', ack('w4', {})],
  ]);
  const outcome = await wait(backend(records));
  assert.ok(!outcome.ok && outcome.stage === 'writers');
  const reasons = Object.fromEntries(outcome.writers.map((writer) => [writer.writer, writer.reason ?? 'ok']));
  assert.match(reasons.w1!, /holds a:80/);
  assert.match(reasons.w2!, /3 sessions on a:80/);
  assert.match(reasons.w3!, /runs version 90, not yet 100/);
  assert.equal(reasons.w4, 'ok');
});

test('a writer whose record vanishes during the wait has not acknowledged', async () => {
  const records = new Map([
    ['w1', ack('w1', {})],
    ['w2', ack('w2', { version: '90', digest: 'older' })],
  ]);
  const discovery = backend(records);
  setTimeout(() => records.delete('w2'), 100);
  const outcome = await wait(discovery);
  assert.ok(!outcome.ok && outcome.stage === 'writers');
  assert.match(outcome.writers.find((writer) => writer.writer === 'w2')!.reason!, /record vanished/);
});

test('discovery still listing the node: fails saying so, before looking at writers', async () => {
  const outcome = await waitForAcks(backend(new Map()), ITEM, { latest: () => ({ ...AFTER, members: [node('a'), node('b')] }) }, { cluster: 'web', nodes: ['a:80'], want: 'absent' }, 200, 20);
  assert.ok(!outcome.ok && outcome.stage === 'discovery');
  assert.match(outcome.message, /still lists a:80/);
});

test('no live writer consumes the cluster: nothing to wait for', async () => {
  const outcome = await wait(backend(new Map()));
  assert.ok(outcome.ok);
  assert.equal(outcome.writers.length, 0);
});

test('two records naming the same writer (two machines sharing a host name and state folder) are two HAProxys: both must acknowledge', async () => {
  const records = new Map([
    ['web-1_aaaaaaaa', ack('web-1:/var/lib/lighthouse', { version: '90', digest: 'older' })],
    ['web-1_bbbbbbbb', ack('web-1:/var/lib/lighthouse', {})],
  ]);
  const outcome = await wait(backend(records));
  assert.ok(!outcome.ok && outcome.stage === 'writers', 'acknowledged although one of the two records runs an older set');
  assert.equal(outcome.writers.length, 2);
  assert.match(outcome.writers.find((writer) => !writer.acknowledged)!.reason!, /runs version 90/);
});

test('a too-large stand-in naming the cluster is not acknowledged; one naming other clusters only is not waited for', async () => {
  const header = { format: ACK_FORMAT, writer: 'big', host: 'big', pid: 1, configDir: '/c', stateDir: '/s', discovery: 'zk', lighthouse: '0.1.0', writtenAt: '' };
  const records = new Map([
    ['w1', ack('w1', {})],
    ['big_1', JSON.stringify({ ...header, oversize: { bytes: 2_000_000, limit: 1_000_000, clusters: ['api', 'web'] } })],
    ['big_2', JSON.stringify({ ...header, writer: 'big2', oversize: { bytes: 2_000_000, limit: 1_000_000, clusters: ['api'] } })],
  ]);
  const outcome = await wait(backend(records));
  assert.ok(!outcome.ok && outcome.stage === 'writers');
  assert.deepEqual(outcome.writers.filter((writer) => !writer.acknowledged).map((writer) => writer.writer), ['/lh/writer-acks/big_1']);
  assert.match(outcome.writers.find((writer) => !writer.acknowledged)!.reason!, /too large.*LH_ACK_TOO_LARGE/);
});
