import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAck, type WriterAck } from '../../src/discovery/ack-record.js';
import type { RecordStore, SessionState } from '../../src/discovery/types.js';
import { FleetPanel, type OpenDiscovery } from '../../src/cli/dashboard-fleet.js';

const ack = (writer: string, version: string, appliedAt: string, held: string[] = []): WriterAck => ({
  format: 1,
  writer,
  host: writer.split(':')[0]!,
  pid: 1,
  configDir: '/etc/lighthouse/writer',
  stateDir: '/var/lib/lighthouse',
  discovery: 'zookeeper',
  lighthouse: '0.1.0',
  writtenAt: appliedAt,
  clusters: { web: { version, digest: `d${version}`, members: 3, appliedAt, held, draining: { 'a:1': 2 } } },
});

class Store implements RecordStore {
  readonly location = '/lighthouse/acks';
  reads = 0;
  constructor(public records: Map<string, string>) {}
  async publish(): Promise<void> {}
  async read(): Promise<Map<string, string>> {
    this.reads += 1;
    return this.records;
  }
}

test('fleet panel: the writers\' records through the open sessions, modelled as lighthouse fleet does; bad records and unconnected backends are problems', async () => {
  const store = new Store(
    new Map([
      ['a', encodeAck(ack('a:/var/lib/lighthouse', '12', '2026-11-29T11:00:00.000Z'))],
      ['b', encodeAck(ack('b:/var/lib/lighthouse', '10', '2026-11-29T10:59:00.000Z', ['c:1']))],
      ['junk', '{"not": "an ack"}'],
    ]),
  );
  let state: SessionState = 'connected';
  const discoveries: OpenDiscovery[] = [
    { item: { name: 'zookeeper', file: 'discovery/zookeeper.yaml' }, instance: { get state() { return state; }, acks: store } },
    { item: { name: 'plain', file: 'discovery/plain.yaml' }, instance: { state: 'connected', acks: undefined } },
  ];
  let now = Date.parse('2026-11-29T11:00:05.000Z');
  const panel = new FleetPanel({ discoveries: () => discoveries, now: () => now, maxAgeMs: 1_000 });
  const report = await panel.report();
  assert.deepEqual(
    report.writers.map((writer) => writer.writer),
    ['a:/var/lib/lighthouse', 'b:/var/lib/lighthouse'],
  );
  const web = report.clusters.find((cluster) => cluster.name === 'web')!;
  assert.equal(web.newest, '12');
  assert.deepEqual(
    web.writers.map((writer) => [writer.writer, writer.current, writer.versionGap, writer.lagSeconds, writer.held]),
    [
      ['a:/var/lib/lighthouse', true, '0', 0, []],
      ['b:/var/lib/lighthouse', false, '2', 5, ['c:1']],
    ],
  );
  assert.equal(report.problems.length, 2, report.problems.join('\n'));
  assert.match(report.problems.join('\n'), /\/lighthouse\/acks\/junk: not a writer acknowledgement/);
  assert.match(report.problems.join('\n'), /discovery\/plain\.yaml: the "plain" discovery plugin keeps no writer acknowledgements/);

  // Readers within maxAgeMs share one read.
  await Promise.all([panel.report(), panel.report()]);
  assert.equal(store.reads, 1);

  // A backend that is not connected is not read (and not connected by the panel: the writer's session is the writer's).
  now += 2_000;
  state = 'disconnected';
  const offline = await panel.report();
  assert.equal(store.reads, 1);
  assert.equal(offline.writers.length, 0);
  assert.match(offline.problems.join('\n'), /discovery\/zookeeper\.yaml: not connected \(disconnected\)/);
});

test('fleet panel: a backend that does not answer in time is a problem, not a hung page', async () => {
  const store: RecordStore = { location: '/lighthouse/acks', publish: async () => undefined, read: () => new Promise(() => undefined) };
  const panel = new FleetPanel({ discoveries: () => [{ item: { name: 'zookeeper', file: 'discovery/zookeeper.yaml' }, instance: { state: 'connected', acks: store } }], timeoutMs: 50 });
  const report = await panel.report();
  assert.match(report.problems[0] ?? '', /cannot read the writers' acknowledgements in \/lighthouse\/acks: \/lighthouse\/acks did not answer within 50 ms/);
});

test('fleet panel: at most 50 writers served, with counts over all; a slow read spaces the next one out', async () => {
  const records = new Map<string, string>();
  for (let index = 0; index < 60; index += 1) {
    const id = `w${String(index).padStart(2, '0')}:/var/lib/lighthouse`;
    records.set(id, encodeAck(ack(id, index < 55 ? '12' : '11', '2026-11-29T11:00:00.000Z')));
  }
  let reads = 0;
  const store: RecordStore = {
    location: '/lighthouse/acks',
    publish: async () => undefined,
    read: async () => {
      reads += 1;
      // at least 30 ms: the next read waits at least 20 times as long
      await new Promise((resolve) => setTimeout(resolve, 30));
      return records;
    },
  };
  let now = Date.parse('2026-11-29T11:00:05.000Z');
  const panel = new FleetPanel({ discoveries: () => [{ item: { name: 'zookeeper', file: 'discovery/zookeeper.yaml' }, instance: { state: 'connected', acks: store } }], now: () => now, maxAgeMs: 1 });
  const report = await panel.report();
  assert.equal(report.writerCount, 60);
  assert.equal(report.writers.length, 50);
  assert.equal(report.clusters[0]!.writers.length, 50, 'entries of the writers served only');
  assert.deepEqual(report.behind, { web: 5 }, 'counted over every writer, also those not served');
  now += 100;
  await panel.report();
  assert.equal(reads, 1, 'within 20 x the last read time, the last report is served');
  now += 60_000;
  await panel.report();
  assert.equal(reads, 2);
});
