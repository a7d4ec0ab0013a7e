import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { backendsReached, httpGet, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, processesUsing, type Harness } from './haproxy-harness.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import type { ClusterNode } from '../../src/discovery/node.js';

/**
 * One HAProxy (master-worker, runtime strategy) driven through a sequence of
 * syncs, as the writer would drive it. Membership changes must not reload
 * (same worker pid); structural ones must (new worker pid).
 */

let h: Harness;
let balancer: HaproxyBalancer;
const started: HttpBackend[] = [];
let webPort: number;
let otherPort: number;
let apiPort: number;
let statsPort: number;
const timings: Record<string, number[]> = {};

async function backend(id: string, host?: string, port?: number): Promise<HttpBackend> {
  const server = await startHttpBackend(id, { host, port });
  started.push(server);
  return server;
}

async function timedSync(name: string, clusters: Parameters<HaproxyBalancer['sync']>[0]): Promise<void> {
  const begin = performance.now();
  await balancer.sync(clusters);
  (timings[name] ??= []).push(Number((performance.now() - begin).toFixed(2)));
}

let web1: HttpBackend;
let web2: HttpBackend;
let web3: HttpBackend;
let other1: HttpBackend;
let widgets1: HttpBackend;
let gadgets1: HttpBackend;
let webMembers: ClusterNode[];

const web = (members: ClusterNode[]) => clusterOf('web', { port: webPort }, members);
const other = () => clusterOf('other', { port: otherPort }, [member(other1)]);
const metaMembers = () => [
  clusterOf('widgets', { acl: 'path_beg /api/widgets' }, [member(widgets1)], 'api'),
  clusterOf('gadgets', { acl: 'path_beg /api/gadgets' }, [member(gadgets1)], 'api'),
];

before(async () => {
  [webPort, otherPort, apiPort, statsPort] = (await freePorts(4)) as [number, number, number, number];
  h = await harness({
    meta_clusters: { api: { port: apiPort } },
    stats: { port: statsPort, uri: '/stats', auth: 'admin:s3cret', timeouts: { connect: 2000, client: 10000, server: 10000 } },
  });
  web1 = await backend('web1');
  web2 = await backend('web2');
  web3 = await backend('web3');
  other1 = await backend('other1');
  widgets1 = await backend('widgets1');
  gadgets1 = await backend('gadgets1');
  balancer = h.create();
});

after(async () => {
  console.log(`# sync timings (ms): ${JSON.stringify(timings)}`);
  if (process.env.HAPROXY_TEST_LOGS) console.log(h.logs.join(""));
  await h.stop();
  await Promise.all(started.map((server) => server.close()));
});

test('first sync starts HAProxy; traffic reaches both members', async () => {
  webMembers = [member(web1), member(web2)];
  await timedSync('start', [web(webMembers)]);
  const seen = await waitFor(async () => {
    const reached = await backendsReached(webPort, 10);
    return reached.size === 2 ? reached : undefined;
  }, 'both members to answer');
  assert.deepEqual([...seen].sort(), ['web1', 'web2']);
  assert.equal(balancer.control.counters.starts, 1);
  assert.ok(await h.masterPid());
});

test('adding a member: it gets traffic through the runtime API (worker pid unchanged)', async () => {
  const pid = await balancer.control.workerPid();
  webMembers = [member(web1), member(web2), member(web3)];
  await timedSync('runtime add', [web(webMembers)]);
  await waitFor(async () => (await backendsReached(webPort, 9)).has('web3'), 'web3 to get traffic');
  assert.equal(await balancer.control.workerPid(), pid);
  assert.equal(balancer.control.counters.reloads, 0);
  // The config file is the truth: a later reload reproduces the runtime state
  // (written in the background after a runtime-only change).
  await balancer.configWritten();
  assert.match(await readFile(h.config.config_file, 'utf8'), new RegExp(`server web3\\.test:${web3.port} 127\\.0\\.0\\.1:${web3.port} cookie`));
});

test('removing a member: no more traffic to it, no reload, and it is deleted from HAProxy', async () => {
  const pid = await balancer.control.workerPid();
  webMembers = [member(web2), member(web3)];
  await timedSync('runtime remove', [web(webMembers)]);
  const before = web1.requests;
  const seen = await backendsReached(webPort, 12);
  assert.deepEqual([...seen].sort(), ['web2', 'web3']);
  assert.equal(web1.requests, before);
  assert.equal(await balancer.control.workerPid(), pid);
  await waitFor(async () => !(await balancer.control.serverStates()).some((row) => row.srv_name === `web1.test:${web1.port}`), 'web1 to be deleted');
  await balancer.configWritten();
  assert.doesNotMatch(await readFile(h.config.config_file, 'utf8'), /web1\.test/);
});

test('a member whose IP changes (same host:port) is re-addressed at run time', async () => {
  const pid = await balancer.control.workerPid();
  // Same port on another loopback address: what a machine that changed its IP looks like.
  await backend('web2-moved', '127.0.0.2', web2.port);
  webMembers = [{ ...member(web2), ip: '127.0.0.2' }, member(web3)];
  await timedSync('runtime set addr', [web(webMembers)]);
  await waitFor(async () => {
    const seen = await backendsReached(webPort, 8);
    return seen.has('web2-moved') && !seen.has('web2');
  }, 'traffic to follow the new address');
  assert.equal(await balancer.control.workerPid(), pid);
  assert.equal(balancer.control.counters.reloads, 0);
});

test('a new cluster is structural: one reload, a new worker, and its frontend answers', async () => {
  const pid = await balancer.control.workerPid();
  await timedSync('reload (new cluster)', [web(webMembers), other()]);
  assert.equal(balancer.control.counters.reloads, 1);
  const answer = await waitFor(async () => {
    const reply = await httpGet(otherPort);
    return reply.status === 200 ? reply : undefined;
  }, 'the new frontend to answer');
  assert.match(answer.body, /^other1 /);
  assert.notEqual(await balancer.control.workerPid(), pid);
  assert.equal((await balancer.control.processes())?.master.pid, await h.masterPid());
  // Runtime changes made before the reload survived it (the file had them).
  assert.deepEqual([...(await backendsReached(webPort, 8))].sort(), ['web2-moved', 'web3']);
});

test('meta-cluster: requests are routed by the members\' ACLs', async () => {
  await timedSync('reload (meta-cluster)', [web(webMembers), other(), ...metaMembers()]);
  const widgets = await waitFor(async () => {
    const reply = await httpGet(apiPort, '/api/widgets/1');
    return reply.status === 200 ? reply : undefined;
  }, 'the widgets route');
  assert.equal(widgets.body, 'widgets1 /api/widgets/1');
  assert.equal((await httpGet(apiPort, '/api/gadgets/7')).body, 'gadgets1 /api/gadgets/7');
  // No rule matches and there is no default backend: HAProxy answers 503 itself.
  assert.equal((await httpGet(apiPort, '/other')).status, 503);
});

test('the stats page answers with auth and refuses without', async () => {
  assert.equal((await httpGet(statsPort, '/stats')).status, 401);
  const page = await httpGet(statsPort, '/stats;csv', { Authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}` });
  assert.equal(page.status, 200);
  assert.match(page.body, /^# pxname,svname,/);
  assert.match(page.body, /\nweb,web3\.test:/);
  const stats = await balancer.control.serverStats();
  assert.ok(stats.some((row) => row.proxy === 'web' && row.server === `web3.test:${web3.port}` && row.status !== ''));
});

test('a balancer created afresh adopts the running HAProxy: no second master, no reload for the same state', async () => {
  const clusters = [web(webMembers), other(), ...metaMembers()];
  const master = await h.masterPid();
  const worker = await balancer.control.workerPid();
  await balancer.close();
  balancer = h.create();
  await timedSync('adopt (same state)', clusters);
  assert.equal(await h.masterPid(), master);
  assert.equal(await balancer.control.workerPid(), worker);
  assert.equal(balancer.control.counters.starts, 0);
  assert.equal(balancer.control.counters.reloads, 0);
  const proc = await balancer.control.processes();
  assert.equal(proc?.master.pid, master);
  // Every HAProxy process of this config is that master or one of its workers.
  const ours = new Set([master, ...(proc?.workers ?? []).map((p) => p.pid), ...(proc?.oldWorkers ?? []).map((p) => p.pid)]);
  for (const pid of await processesUsing(h.dir.path)) assert.ok(ours.has(pid), `unexpected HAProxy process ${pid}`);
  // ... and it keeps changing membership at run time.
  webMembers = [...webMembers, member(web1)];
  await timedSync('runtime add (adopted)', [web(webMembers), other(), ...metaMembers()]);
  await waitFor(async () => (await backendsReached(webPort, 9)).has('web1'), 'web1 back after adoption');
  assert.equal(await balancer.control.workerPid(), worker);
});

test('HAProxy killed (master and workers): started again from the config file', async () => {
  const master = (await h.masterPid())!;
  const proc = await balancer.control.processes();
  for (const pid of [master, ...(proc?.workers ?? []).map((p) => p.pid)]) process.kill(pid, 'SIGKILL');
  await waitFor(async () => {
    const pid = await h.masterPid();
    return pid !== undefined && pid !== master && balancer.control.counters.starts === 1;
  }, 'HAProxy to be started again', 15_000);
  await waitFor(async () => (await httpGet(webPort).catch(() => ({ status: 0 }))).status === 200, 'the restarted HAProxy to serve');
  assert.deepEqual([...(await backendsReached(webPort, 9))].sort(), ['web1', 'web2-moved', 'web3']);
});
