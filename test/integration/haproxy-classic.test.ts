import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { backendsReached, startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, processesUsing, type Harness } from './haproxy-harness.js';
import { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import { haproxyConfigSchema } from '../../src/balancer/haproxy/schema.js';
import { pino } from 'pino';

/** `update_strategy: reload`: the original's behaviour (new process with -sf on every change), and the move to master-worker. */

let h: Harness;
let backends: HttpBackend[];
let webPort: number;

before(async () => {
  [webPort] = (await freePorts(1)) as [number];
  h = await harness({ update_strategy: 'reload' });
  backends = await startHttpBackends('web', 3);
});

after(async () => {
  if (process.env.HAPROXY_TEST_LOGS) console.log(h.logs.join(''));
  await h.stop();
  await Promise.all(backends.map((backend) => backend.close()));
});

const web = (members: HttpBackend[]) => clusterOf('web', { port: webPort }, members.map((backend) => member(backend)));

test('classic: starts a daemon and serves', async () => {
  const balancer = h.create();
  await balancer.sync([web([backends[0]!, backends[1]!])]);
  await waitFor(async () => (await backendsReached(webPort, 8)).size === 2, 'both members');
  assert.ok(await h.masterPid());
});

test('classic: every membership change is a new process (-sf), the old one exits', async () => {
  const balancer = h.balancers[0]!;
  const before = (await h.masterPid())!;
  await balancer.sync([web([backends[0]!, backends[1]!, backends[2]!])]);
  const after = (await h.masterPid())!;
  assert.notEqual(after, before);
  assert.equal(balancer.control.counters.reloads, 1);
  await waitFor(async () => (await backendsReached(webPort, 9)).has('web3'), 'the new member');
  await waitFor(async () => !(await processesUsing(h.dir.path)).includes(before), 'the old process to finish');
  // Nothing changed: nothing happens.
  await balancer.sync([web([backends[0]!, backends[1]!, backends[2]!])]);
  assert.equal(await h.masterPid(), after);
});

test('classic: a restarted writer adopts the daemon without reloading the same state', async () => {
  const pid = await h.masterPid();
  await h.balancers[0]!.close();
  const fresh = h.create();
  await fresh.sync([web([backends[0]!, backends[1]!, backends[2]!])]);
  assert.equal(await h.masterPid(), pid);
  assert.equal(fresh.control.counters.reloads + fresh.control.counters.starts, 0);
});

test('switching to the runtime strategy takes the classic daemon over with a master (-x, -sf)', async () => {
  const classicPid = (await h.masterPid())!;
  await h.balancers[1]!.close();
  const runtime = new HaproxyBalancer(haproxyConfigSchema.parse({ ...h.config, update_strategy: 'runtime' }), {
    logger: pino({ level: 'debug' }, { write: (line: string) => void h.logs.push(line) }),
  });
  h.balancers.push(runtime);
  await runtime.sync([web([backends[0]!, backends[1]!])]);
  const proc = await runtime.control.processes();
  assert.ok(proc, 'a master answers on the master socket');
  assert.equal(proc.master.pid, await h.masterPid());
  assert.notEqual(proc.master.pid, classicPid);
  await waitFor(async () => !(await processesUsing(h.dir.path)).includes(classicPid), 'the classic process to finish');
  assert.deepEqual([...(await backendsReached(webPort, 8))].sort(), ['web1', 'web2']);
  // From now on membership goes through the runtime API.
  const worker = await runtime.control.workerPid();
  await runtime.sync([web([backends[0]!, backends[1]!, backends[2]!])]);
  await waitFor(async () => (await backendsReached(webPort, 9)).has('web3'), 'web3 via the runtime API');
  assert.equal(await runtime.control.workerPid(), worker);
});
