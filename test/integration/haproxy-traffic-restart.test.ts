import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import { httpGet, startHttpBackend, startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, type Harness } from './haproxy-harness.js';

/**
 * Roles and weights survive what replaces the runtime state: a reload (the
 * file must carry `backup` and `weight`), and a restarted writer adopting the
 * running HAProxy (it must read them back, or it would re-add every backup).
 */
let h: Harness;
let backends: HttpBackend[] = [];
let port: number;
let otherPort: number;

const zoned = (node: ClusterNode, zone: string, weight: number): ClusterNode => ({ ...node, metadata: { zone, weight } });
const section = (): Record<string, unknown> => ({ port, zone_aware: {}, weights: {} });

async function roles(balancer: HaproxyBalancer): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // stat snapshots are cached for 1 s
  const rows = await balancer.control.serverStats();
  return rows
    .filter((row) => row.proxy === 'web' && row.server !== 'BACKEND' && row.server !== 'FRONTEND' && !row.status.startsWith('MAINT'))
    .map((row) => `${row.server.split('.')[0]}=${row.backup ? 'backup' : 'active'}/${row.raw.weight}`)
    .sort()
    .join(' ');
}

async function answers(count: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let index = 0; index < count; index += 1) seen.add((await httpGet(port)).body.split(' ')[0]!);
  return seen;
}

let flowPort: number;
let midPort: number;

before(async () => {
  [port, otherPort, flowPort, midPort] = (await freePorts(4)) as [number, number, number, number];
  backends = await startHttpBackends('r', 7);
  h = await harness({ zone: 'zone-a' });
});

after(async () => {
  await h.stop();
  await Promise.all(backends.map((backend) => backend.close()));
});

test('roles and weights come back from the file after a reload, and a restarted writer adopts them without changing anything', async () => {
  const [r1, r2, r3] = backends as [HttpBackend, HttpBackend, HttpBackend];
  const members = [zoned(member(r1), 'zone-a', 2), zoned(member(r2), 'zone-a', 1), zoned(member(r3), 'zone-b', 1)];
  const first = h.create();
  await first.sync([clusterOf('web', section(), members.slice(0, 1))]);
  // Added at run time: r2 active, r3 a backup.
  await first.sync([clusterOf('web', section(), members)]);
  await waitFor(async () => (await roles(first)) === 'r1=active/2 r2=active/1 r3=backup/1', 'roles and weights at run time', 20_000);
  assert.equal(first.control.counters.reloads, 0);

  // A structural change reloads: the new worker loads roles and weights from the file.
  await first.sync([clusterOf('web', section(), members), clusterOf('other', { port: otherPort }, [member(r1)])]);
  assert.equal(first.control.counters.reloads, 1);
  assert.match(await readFile(h.config.config_file, 'utf8'), new RegExp(`server r3\\.test:${r3.port} 127\\.0\\.0\\.1:${r3.port} cookie r3\\.test:${r3.port} weight 1 backup\\n`));
  await waitFor(async () => (await roles(first)) === 'r1=active/2 r2=active/1 r3=backup/1', 'the same roles after the reload', 20_000);
  assert.deepEqual([...(await answers(30))].sort(), ['r1', 'r2']);
  await first.close();

  // A new writer adopts the running HAProxy: nothing to change, no runtime command beyond the reads.
  const second = h.create();
  await second.sync([clusterOf('web', section(), members), clusterOf('other', { port: otherPort }, [member(r1)])]);
  assert.equal(second.control.counters.reloads, 0);
  assert.equal(second.control.counters.runtimeChanges, 0, 'the adopted roles and weights are known');
  // ...and it can still change them at run time.
  await second.sync([clusterOf('web', section(), [members[0]!, zoned(member(r2), 'zone-a', 4), members[2]!]), clusterOf('other', { port: otherPort }, [member(r1)])]);
  await waitFor(async () => (await roles(second)) === 'r1=active/2 r2=active/4 r3=backup/1', 'the new weight', 20_000);
  assert.equal(second.control.counters.reloads, 0);
});

test('requests keep being answered while a whole zone goes and comes back (backups promoted half at a time, then demoted)', async () => {
  const [, , , f1, f2, f3, f4] = backends as HttpBackend[] as [HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend, HttpBackend];
  const balancer = h.create();
  const flow = (members: ClusterNode[]) => [clusterOf('flow', { port: flowPort, zone_aware: {} }, members)];
  const zoneA = [zoned(member(f1), 'zone-a', 1), zoned(member(f2), 'zone-a', 1)];
  const zoneB = [zoned(member(f3), 'zone-b', 1), zoned(member(f4), 'zone-b', 1)];
  await balancer.sync(flow([...zoneA, ...zoneB]));
  const reloads = balancer.control.counters.reloads;
  const outcomes = new Map<string, number>();
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      const answer = await httpGet(flowPort).catch((error: unknown) => ({ status: -1, body: String(error) }));
      const key = answer.status === 200 ? answer.body.split(' ')[0]! : `error ${answer.status}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
  })();
  const promoted = async (): Promise<boolean> => {
    const rows = await balancer.control.serverStates();
    const names = rows.filter((row) => row.be_name === 'flow').map((row) => row.srv_name);
    return names.length === 2 && !names.some((name) => name?.startsWith('r4.') || name?.startsWith('r5.'));
  };
  // The whole zone goes: zone-b serves (first as backups, then promoted).
  await balancer.sync(flow(zoneB));
  await waitFor(promoted, 'zone-a members deleted', 20_000);
  await waitFor(async () => {
    const text = await balancer.control.command('show stat -1 4 -1');
    return text.split('\n').filter((line) => line.startsWith('flow,r6') || line.startsWith('flow,r7')).every((line) => line.split(',')[19] === '1' && line.split(',')[20] === '0');
  }, 'zone-b members active', 20_000);
  const zoneBAnswers = (): number => (outcomes.get('r6') ?? 0) + (outcomes.get('r7') ?? 0);
  await waitFor(() => zoneBAnswers() >= 20, 'zone-b to answer while zone-a is gone', 20_000);
  const during = zoneBAnswers();
  // ...and comes back: zone-b stands by again.
  await balancer.sync(flow([...zoneA, ...zoneB]));
  await waitFor(async () => {
    const text = await balancer.control.command('show stat -1 4 -1');
    return text.split('\n').filter((line) => line.startsWith('flow,r6') || line.startsWith('flow,r7')).every((line) => line.split(',')[20] === '1');
  }, 'zone-b members back to backup', 20_000);
  const before = (outcomes.get('r4') ?? 0) + (outcomes.get('r5') ?? 0);
  await waitFor(() => (outcomes.get('r4') ?? 0) + (outcomes.get('r5') ?? 0) >= before + 20, 'zone-a to take requests again', 20_000);
  stop = true;
  await traffic;
  console.log(`requests across the zone loss and return: ${JSON.stringify([...outcomes])}`);
  assert.ok(during > 0, 'zone-b answered while zone-a was gone');
  assert.deepEqual([...outcomes.keys()].filter((key) => key.startsWith('error')), [], `no failed request: ${JSON.stringify([...outcomes])}`);
  assert.equal(balancer.control.counters.reloads, reloads, 'no reload');
  await balancer.close();
});

test('a role change a stopped writer left half done (server in maintenance, not deleted) is finished by the next writer', async () => {
  const m1 = await startHttpBackend('m1');
  const m3 = await startHttpBackend('m3');
  // Answers after 15 s: a request in flight on it keeps `del server` from going through.
  const slow = await startHttpBackend('m2', { delayMs: 15_000 });
  backends.push(m1, m3, slow);
  const mid = (members: ClusterNode[]) => [clusterOf('mid', { port: midPort, zone_aware: { min_members: 2 } }, members)];
  const first = h.create({ drainTimeoutMs: 600_000 });
  // One zone-a member, fewer than min_members: spilled, so m2 (zone-b) is active.
  await first.sync(mid([zoned(member(m1), 'zone-a', 1), zoned(member(slow), 'zone-b', 1)]));
  const pending = Array.from({ length: 4 }, () => httpGet(midPort, '/', {}, 120_000).catch(() => undefined));
  await waitFor(async () => (await first.control.serverStats()).some((row) => row.proxy === 'mid' && row.server.startsWith('m2.') && row.currentSessions > 0), 'a request in flight on m2', 20_000);
  // A second zone-a member: m2 must become a backup, but cannot be deleted while its request runs.
  const desired = mid([zoned(member(m1), 'zone-a', 1), zoned(member(slow), 'zone-b', 1), zoned(member(m3), 'zone-a', 1)]);
  await first.sync(desired);
  await waitFor(async () => (await first.control.serverStates()).some((row) => row.be_name === 'mid' && row.srv_name?.startsWith('m2.') && (Number(row.srv_admin_state) & 1) === 1), 'm2 in maintenance', 20_000);
  await first.close();

  const second = h.create({ drainTimeoutMs: 200 });
  await second.sync(desired);
  await waitFor(async () => {
    const rows = await second.control.serverStats();
    return rows.some((row) => row.proxy === 'mid' && row.server.startsWith('m2.') && row.backup && !row.status.startsWith('MAINT'));
  }, 'm2 back as a backup server', 30_000);
  assert.equal(second.control.counters.reloads, 0);
  await Promise.all(pending);
});
