import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACK_FORMAT, decodeAck, type ClusterAck, type WriterAck } from '../../src/discovery/ack-record.js';
import { fleetModel, type AckRecordRead } from '../../src/cli/fleet-view.js';
import { lateWriters } from '../../src/cli/fleet-command.js';

const NOW = Date.parse('2026-01-01T00:01:00Z');

function record(writer: string, clusters: Record<string, Partial<ClusterAck>>): AckRecordRead {
  const ack: WriterAck = {
    format: ACK_FORMAT,
    writer,
    host: writer.split(':')[0]!,
    pid: 1,
    configDir: '/etc/lh',
    stateDir: '/var/lib/lh',
    discovery: 'zk',
    lighthouse: '0.1.0',
    writtenAt: '2026-01-01T00:00:00Z',
    clusters: Object.fromEntries(Object.entries(clusters).map(([name, entry]) => [name, { version: '1', digest: 'd1', members: 2, appliedAt: '2026-01-01T00:00:00Z', held: [], draining: {}, ...entry }])),
  };
  return { discovery: 'zk', record: `/lh/writer-acks/${writer}`, ack };
}

test('per cluster: the newest version, who is current, how far behind the others are in versions and seconds', () => {
  const report = fleetModel(
    [
      record('a:/s', { web: { version: '120', digest: 'new', appliedAt: '2026-01-01T00:00:30Z' } }),
      record('b:/s', { web: { version: '100', digest: 'old' } }),
      // same members as the newest, read at a later etcd revision than its last change: current
      record('c:/s', { web: { version: '110', digest: 'new', appliedAt: '2026-01-01T00:00:40Z' } }),
    ],
    NOW,
  );
  const web = report.clusters[0]!;
  assert.equal(web.newest, '120');
  const byWriter = Object.fromEntries(web.writers.map((writer) => [writer.writer, writer]));
  assert.equal(byWriter['a:/s']!.current, true);
  assert.equal(byWriter['c:/s']!.current, true);
  assert.equal(byWriter['b:/s']!.current, false);
  assert.equal(byWriter['b:/s']!.versionGap, '20');
  assert.equal(byWriter['b:/s']!.lagSeconds, 30);
  assert.deepEqual(lateWriters(report, 10), ['b:/s (web: 100 of 120, 30 s)']);
  assert.deepEqual(lateWriters(report, 60), []);
});

test('--cluster keeps one cluster; a record read through two discovery items counts once', () => {
  const one = record('a:/s', { web: {}, api: {} });
  const report = fleetModel([one, { ...one, discovery: 'zk-copy' }], NOW, 'api');
  assert.deepEqual(report.clusters.map((cluster) => cluster.name), ['api']);
  assert.equal(report.writers.length, 1);
  assert.equal(report.clusters[0]!.writers.length, 1);
});

test('records of a newer format, or not records at all, are refused with a reason', () => {
  assert.equal(decodeAck('{').ok, false);
  const newer = decodeAck(JSON.stringify({ format: ACK_FORMAT + 1 }));
  assert.ok(!newer.ok && /newer/.test(newer.error));
  const missing = decodeAck(JSON.stringify({ format: ACK_FORMAT, writer: 'x' }));
  assert.ok(!missing.ok);
});

test('two records naming one writer through one discovery: a problem naming both', () => {
  const entry = { version: '5', digest: 'd', members: 1, appliedAt: null, held: [], draining: {} };
  const ack = { format: 1, writer: 'web-1:/s', host: 'web-1', pid: 1, configDir: '/c', stateDir: '/s', discovery: 'zk', lighthouse: '0.1.0', writtenAt: '', clusters: { web: entry } };
  const report = fleetModel([{ discovery: 'zk', record: '/acks/web-1_a', ack }, { discovery: 'zk', record: '/acks/web-1_b', ack }], 0);
  assert.equal(report.clusters[0]!.writers.length, 2);
  assert.ok(report.problems.some((problem) => problem.includes('/acks/web-1_a') && problem.includes('/acks/web-1_b') && problem.includes('web-1:/s')), report.problems.join('\n'));
});
