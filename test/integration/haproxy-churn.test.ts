import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { httpGet, startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, type Harness } from './haproxy-harness.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';

/**
 * Membership churn and a reload under steady traffic: no request may fail
 * (SPEC §4: never drop a request because of a membership change). Requests
 * take 20 ms at the backend, so removals always find requests in flight.
 * Bounded: 4 clients, at most 300 requests each.
 */

let h: Harness;
let balancer: HaproxyBalancer;
let backends: HttpBackend[];
let webPort: number;
let otherPort: number;

before(async () => {
  [webPort, otherPort] = (await freePorts(2)) as [number, number];
  h = await harness();
  backends = await startHttpBackends('web', 4, { delayMs: 20 });
  balancer = h.create();
});

after(async () => {
  if (process.env.HAPROXY_TEST_LOGS) console.log(h.logs.join(''));
  await h.stop();
  await Promise.all(backends.map((backend) => backend.close()));
});

interface LoadResult {
  ok: number;
  failures: string[];
}

function load(port: number, clients: number, maxPerClient: number, running: () => boolean): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, failures: [] };
  const client = async (): Promise<void> => {
    for (let index = 0; index < maxPerClient && running(); index += 1) {
      try {
        const answer = await httpGet(port);
        if (answer.status === 200) result.ok += 1;
        else result.failures.push(`HTTP ${answer.status}`);
      } catch (error) {
        result.failures.push((error as Error).message);
      }
    }
  };
  return Promise.all(Array.from({ length: clients }, client)).then(() => result);
}

const web = (members: HttpBackend[]) => clusterOf('web', { port: webPort }, members.map((backend) => member(backend)));

test('adds, removals and a reload under traffic: zero failed requests, no reload for membership', async () => {
  const [b1, b2, b3, b4] = backends as [HttpBackend, HttpBackend, HttpBackend, HttpBackend];
  await balancer.sync([web([b1, b2])]);
  await waitFor(async () => (await httpGet(webPort)).status === 200, 'HAProxy to serve');
  const worker = await balancer.control.workerPid();

  let running = true;
  const traffic = load(webPort, 4, 300, () => running);
  const sets: HttpBackend[][] = [
    [b1, b2, b3],
    [b2, b3],
    [b2, b3, b4],
    [b3, b4],
    [b1, b3, b4],
    [b1, b4],
    [b1, b2],
  ];
  const syncMs: number[] = [];
  try {
    for (const members of sets) {
      const requestsBefore = members.map((backend) => backend.requests);
      const started = performance.now();
      await balancer.sync([web(members)]);
      syncMs.push(Number((performance.now() - started).toFixed(1)));
      // Every member of the new set takes traffic before the next change.
      await waitFor(() => members.every((backend, index) => backend.requests > requestsBefore[index]! + 5), 'all members to get traffic', 10_000, 5);
    }
    assert.equal(await balancer.control.workerPid(), worker, 'membership changes must not reload');
    assert.equal(balancer.control.counters.reloads, 0);

    // A structural change under the same traffic: one seamless reload.
    const started = performance.now();
    await balancer.sync([web([b1, b2]), clusterOf('other', { port: otherPort }, [member(b3)])]);
    const reloadMs = Number((performance.now() - started).toFixed(1));
    assert.equal(balancer.control.counters.reloads, 1);
    const after = b1.requests + b2.requests;
    await waitFor(() => b1.requests + b2.requests > after + 10, 'traffic after the reload', 10_000, 5);
    console.log(`# churn: membership syncs (ms) ${JSON.stringify(syncMs)}, reload sync ${reloadMs} ms`);
  } finally {
    running = false;
  }
  const result = await traffic;
  console.log(`# churn: ${result.ok} requests ok, ${result.failures.length} failed, forced removals ${balancer.control.counters.forcedRemovals}`);
  assert.deepEqual(result.failures, []);
  assert.ok(result.ok > 50, `too little traffic to mean anything (${result.ok})`);
  assert.equal(balancer.control.counters.forcedRemovals, 0);
});
