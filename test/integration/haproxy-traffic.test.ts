import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { collectStatus, formatStatus } from '../../src/cli/status-command.js';
import { coreRegistries } from '../support/core-registries.js';
import { haproxyYaml } from '../support/daemon-config.js';
import { httpGet, startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { BASE, startWriterStack, type WriterStack } from '../support/writer-stack.js';
import { connectClient, originalNodeBytes, writeOriginalNode } from '../support/zookeeper.js';

/**
 * Zones, weights and slow start through the whole path: ZooKeeper nodes with
 * metadata -> the writer -> a real HAProxy, measured by the requests each
 * backend answers (counts, never times). None of it may reload HAProxy.
 */
let stack: WriterStack;
let registrations: ZkClient;
let backends: HttpBackend[] = [];
let zonePort: number;
let weightPort: number;
let slowPort: number;
let reloadsAtStart: number;

const guardOff = 'removal_guard:\n  enabled: false\n';

async function register(cluster: string, backend: HttpBackend, metadata: Record<string, unknown>): Promise<string> {
  return writeOriginalNode(registrations, BASE, cluster, { host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, metadataJson: JSON.stringify(metadata), peer: null });
}

/** Answers per backend id over `count` sequential requests (200s only; anything else counts as "error"). */
async function split(port: number, count: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let index = 0; index < count; index += 1) {
    const answer = await httpGet(port);
    const id = answer.status === 200 ? answer.body.split(' ')[0]! : `error ${answer.status}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** HAProxy's own view of one backend: server -> {backup, weight, status}. */
async function servers(proxy: string): Promise<Map<string, { backup: boolean; weight: number; status: string }>> {
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // the stat snapshot is cached for 1 s
  const rows = await stack.haproxy().control.serverStats();
  return new Map(
    rows
      .filter((row) => row.proxy === proxy && row.server !== 'BACKEND' && row.server !== 'FRONTEND')
      .map((row) => [row.server, { backup: row.raw.bck === '1', weight: Number(row.raw.weight), status: row.status }]),
  );
}

const roles = async (proxy: string): Promise<string> =>
  [...(await servers(proxy))]
    .filter(([, server]) => !server.status.startsWith('MAINT'))
    .map(([name, server]) => `${name.split('.')[0]}=${server.backup ? 'backup' : 'active'}`)
    .sort()
    .join(' ');

before(async () => {
  backends = await startHttpBackends('t', 8);
  [zonePort, weightPort, slowPort] = (await freePorts(3)) as [number, number, number];
  stack = await startWriterStack({
    clusters: ['zoned', 'weighted', 'slow'],
    files: {
      'clusters/zoned.yaml': `discovery: zookeeper\n${guardOff}haproxy:\n  port: ${zonePort}\n  zone_aware:\n    min_members: 2\n`,
      'clusters/weighted.yaml': `discovery: zookeeper\n${guardOff}haproxy:\n  port: ${weightPort}\n  weights: {}\n`,
      'clusters/slow.yaml': `discovery: zookeeper\n${guardOff}haproxy:\n  port: ${slowPort}\n  slow_start: 10s\n  weights:\n    default: 16\n`,
    },
    // The writer's zone, writer-wide in the balancer file.
    prepare: (dir) => writeFile(join(dir, 'balancers/haproxy.yaml'), haproxyYaml(join(dir, 'run'), 'zone: zone-a\n')),
  });
  registrations = await connectClient(stack.zk.connectString);
  await waitFor(() => stack.haproxy()?.control.counters.starts === 1, 'HAProxy to start', 20_000);
  reloadsAtStart = stack.haproxy().control.counters.reloads;
});

after(async () => {
  registrations?.close();
  await stack?.close();
  await Promise.all(backends.map((backend) => backend.close()));
});

test('zone-aware: 100% to the writer\'s zone, spillover below min_members, and back, all without a reload', async () => {
  const [a1, a2, b1, b2] = backends as [HttpBackend, HttpBackend, HttpBackend, HttpBackend];
  await register('zoned', a1, { zone: 'zone-a' });
  const a2Path = await register('zoned', a2, { zone: 'zone-a' });
  await register('zoned', b1, { zone: 'zone-b' });
  await register('zoned', b2, { zone: 'zone-b' });
  await waitFor(async () => (await roles('zoned')) === 't1=active t2=active t3=backup t4=backup', 'zone-b members to stand by as backups', 20_000);
  // Registrations arrive one by one: depending on how they were batched, zone-b may have been active for a moment.
  const roleChangesBefore = stack.haproxy().control.counters.roleChanges;
  const spilloversBefore = stack.haproxy().control.counters.zoneSpillovers;
  const local = await split(zonePort, 100);
  // `status` shows each member's zone, weight and role.
  const report = await collectStatus(stack.dir.path, coreRegistries(), 5_000);
  const zoned = report.clusters.find((cluster) => cluster.name === 'zoned')!;
  assert.deepEqual(
    zoned.members.map((row) => `${row.node.split('.')[0]} ${row.zone} ${row.weight} ${row.role}`),
    ['t1 zone-a 1 active', 't2 zone-a 1 active', 't3 zone-b 1 backup', 't4 zone-b 1 backup'],
  );
  assert.match(formatStatus(report), /ZONE +WEIGHT +ROLE/);
  assert.deepEqual(zoned.zone, { zone: 'zone-a', sameZone: 2, members: 4, spilled: false });
  assert.match(formatStatus(report), /zone zone-a: 2 of 4 members; other zones stand by as backups/);
  assert.deepEqual([...local.keys()].sort(), ['t1', 't2'], `only zone-a answers: ${JSON.stringify([...local])}`);

  // One zone-a member left, fewer than min_members 2: every member serves.
  await registrations.remove(a2Path, -1);
  await waitFor(async () => (await roles('zoned')) === 't1=active t3=active t4=active', 'zone-b members to become active (spillover)', 20_000);
  const spilled = await split(zonePort, 150);
  const spilledStatus = (await collectStatus(stack.dir.path, coreRegistries(), 5_000)).clusters.find((cluster) => cluster.name === 'zoned');
  assert.deepEqual(spilledStatus?.zone, { zone: 'zone-a', sameZone: 1, members: 3, spilled: true });
  assert.equal([...spilled.keys()].filter((id) => id.startsWith('error')).length, 0, `no errors: ${JSON.stringify([...spilled])}`);
  assert.ok((spilled.get('t3') ?? 0) + (spilled.get('t4') ?? 0) >= 50, `zone-b takes its share: ${JSON.stringify([...spilled])}`);

  await register('zoned', a2, { zone: 'zone-a' });
  await waitFor(async () => (await roles('zoned')) === 't1=active t2=active t3=backup t4=backup', 'zone-b members to stand by again', 20_000);
  const back = await split(zonePort, 100);
  const counters = stack.haproxy().control.counters;
  assert.equal(counters.zoneSpillovers - spilloversBefore, 1, 'one spillover counted');
  assert.equal(counters.roleChanges - roleChangesBefore, 4, 'two servers changed role twice, each at run time');
  console.log(`zone split: local ${JSON.stringify([...local])}, spilled ${JSON.stringify([...spilled])}, back ${JSON.stringify([...back])}`);
  assert.deepEqual([...back.keys()].sort(), ['t1', 't2'], `only zone-a answers again: ${JSON.stringify([...back])}`);
  assert.equal(stack.haproxy().control.counters.reloads, reloadsAtStart, 'no reload');
});

test('weights: metadata weight 3 vs 1 splits about 3:1, and a weight change in discovery reaches HAProxy without a reload', async () => {
  const [, , , , w1, w2] = backends as HttpBackend[] as [HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend];
  const w1Path = await register('weighted', w1!, { weight: 1 });
  await register('weighted', w2!, { weight: 1 });
  await waitFor(async () => (await servers('weighted')).size === 2, 'both members in HAProxy', 20_000);
  const node = { host: `${w1!.id}.test`, ip: '127.0.0.1', port: w1!.port, metadataJson: JSON.stringify({ weight: 3 }), peer: null };
  await registrations.setData(w1Path, originalNodeBytes(node), -1);
  await waitFor(async () => (await servers('weighted')).get(`${w1!.id}.test:${w1!.port}`)?.weight === 3, 'HAProxy to give t5 weight 3', 20_000);
  const counts = await split(weightPort, 400);
  const ratio = (counts.get('t5') ?? 0) / Math.max(1, counts.get('t6') ?? 0);
  console.log(`weight split: ${JSON.stringify([...counts])}`);
  assert.ok(ratio >= 2 && ratio <= 4, `about 3:1, got ${JSON.stringify([...counts])}`);
  assert.ok(stack.haproxy().control.counters.weightChanges >= 1, 'the weight changed at run time');
  assert.equal(stack.haproxy().control.counters.reloads, reloadsAtStart, 'no reload');
});

test('slow start: a new member\'s share grows over its ramp, without a reload', async () => {
  const [, , , , , , s1, s2] = backends as [HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend];
  await register('slow', s1, {});
  await waitFor(async () => [...(await servers('slow')).values()].some((server) => server.weight === 16), 't7 at full weight', 30_000);
  await register('slow', s2, {});
  const s2Name = `${s2.id}.test:${s2.port}`;
  await waitFor(async () => (await stack.serving('slow')).has(s2Name), 't8 in HAProxy', 20_000);
  const early = await split(slowPort, 60);
  await waitFor(async () => (await servers('slow')).get(s2Name)?.weight === 16, 't8 to reach its full weight', 60_000);
  const late = await split(slowPort, 60);
  const share = (counts: Map<string, number>): number => (counts.get('t8') ?? 0) / 60;
  console.log(`slow start: early ${JSON.stringify([...early])}, late ${JSON.stringify([...late])}, reloads ${stack.haproxy().control.counters.reloads}`);
  assert.ok(share(early) < share(late), `early share ${share(early)} < late share ${share(late)}: ${JSON.stringify([...early])} then ${JSON.stringify([...late])}`);
  assert.ok(share(late) >= 0.3, `late: about half, got ${JSON.stringify([...late])}`);
  assert.equal(stack.haproxy().control.counters.reloads, reloadsAtStart, 'no reload');
});
