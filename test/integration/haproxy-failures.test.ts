import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { backendsReached, httpGet, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, type Harness } from './haproxy-harness.js';
import { HaproxyProcess } from '../../src/balancer/haproxy/process.js';
import { haproxyPaths } from '../../src/balancer/haproxy/paths.js';
import { haproxyBalancer } from '../../src/balancer/haproxy/plugin.js';
import { parseConfigFile } from '../../src/config/parse.js';
import { formatProblem } from '../../src/config/model.js';
import { createRegistries } from '../../src/plugins/registry.js';
import { silentLogger } from '../../src/lib/logger.js';
import { LighthouseError } from '../../src/lib/errors.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';

/** What HAProxy rejects, and that the old configuration keeps serving until it is fixed. */

let h: Harness;
let balancer: HaproxyBalancer;
let web1: HttpBackend;
let web2: HttpBackend;
let webPort: number;
let busyPort: number;
let blocker: Server | undefined;

/** A plain listener without SO_REUSEPORT: HAProxy cannot bind next to it. */
async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

before(async () => {
  [webPort, busyPort] = (await freePorts(2)) as [number, number];
  h = await harness();
  web1 = await startHttpBackend('web1');
  web2 = await startHttpBackend('web2');
  balancer = h.create();
});

after(async () => {
  if (process.env.HAPROXY_TEST_LOGS) console.log(h.logs.join(''));
  await h.stop();
  blocker?.close();
  await Promise.all([web1.close(), web2.close()]);
});

const web = (section: Record<string, unknown> = {}) => clusterOf('web', { port: webPort, ...section }, [member(web1), member(web2)]);

test('every golden config (incl. a peers section) passes haproxy -c', async () => {
  const dir = fileURLToPath(new URL('../unit/golden/', import.meta.url));
  const files = (await readdir(dir)).filter((file) => file.startsWith('haproxy-') && file.endsWith('.cfg'));
  assert.ok(files.length >= 7);
  const process = new HaproxyProcess({ binary: 'haproxy', paths: haproxyPaths(h.config), logger: silentLogger() });
  for (const file of files) {
    const result = await process.check(`${dir}${file}`);
    assert.equal(result.ok, true, `${file}: ${result.ok ? '' : result.message}`);
  }
});

test('an illegal directive is rejected by the plugin schema with a message naming file, setting and section', () => {
  const registries = createRegistries();
  registries.balancers.register(haproxyBalancer);
  // (A proxy keyword in the wrong proxy section, which HAProxy only ignores, is a warning: see haproxy-directives.test.ts.)
  const result = parseConfigFile('cluster', '/etc/lh/clusters/web.yaml', 'discovery: zk\nhaproxy:\n  port: 8000\n  frontend:\n    - nbthread 2\n', 'web', registries);
  assert.equal(result.ok, false);
  assert.deepEqual(result.ok ? [] : result.error.map(formatProblem), [
    '/etc/lh/clusters/web.yaml: haproxy.frontend.0 (line 5): "nbthread" is not a directive of an HAProxy 2.6 frontend section (it is a global directive)',
  ]);
});

test('validate() reports cross-check problems and HAProxy rejections, naming the cluster', async () => {
  const problems = await balancer.validate([
    web({ server_options: 'weight 999' }),
    clusterOf('stray', { port: busyPort, acl: 'path_beg /x' }, []),
  ]);
  const text = problems.map((problem) => `${problem.subject}: ${problem.message}`).join('\n');
  assert.match(text, /cluster "stray".*acl only routes inside a meta-cluster/);
  assert.match(text, /cluster "web": HAProxy rejects the generated configuration \(from cluster "web"\): .*weight/);
  assert.deepEqual(await balancer.validate([web()]), []);
});

test('HAProxy not startable (port taken): the error carries HAProxy\'s message; fixing it starts HAProxy', async () => {
  blocker = await occupy(webPort);
  await assert.rejects(balancer.sync([web()]), (error: unknown) => {
    assert.ok(error instanceof LighthouseError);
    assert.equal(error.code, 'LH_HAPROXY_START');
    assert.match(error.message, /cannot bind socket.*127\.0\.0\.1:\d+/);
    return true;
  });
  assert.equal(await h.masterPid().then((pid) => (pid ? 'pid file left' : undefined)), undefined);
  assert.equal(balancer.control.counters.startFailures, 1);
  blocker.close();
  blocker = undefined;
  await balancer.sync([web()]);
  await waitFor(async () => (await backendsReached(webPort, 6)).size === 2, 'HAProxy to serve after the fix');
});

test('a config HAProxy rejects (bad server option) is not installed: the old one keeps serving; fixing it applies', async () => {
  const before = await readFile(h.config.config_file, 'utf8');
  const worker = await balancer.control.workerPid();
  await assert.rejects(balancer.sync([web({ server_options: 'weight 999' })]), (error: unknown) => {
    assert.ok(error instanceof LighthouseError);
    assert.equal(error.code, 'LH_HAPROXY_INVALID');
    assert.match(error.message, /from cluster "web".*weight/);
    assert.match(error.message, /keeps its configuration/);
    return true;
  });
  assert.equal(await readFile(h.config.config_file, 'utf8'), before);
  assert.equal(await balancer.control.workerPid(), worker);
  assert.equal((await backendsReached(webPort, 6)).size, 2);
  await balancer.sync([web({ server_options: 'weight 50' })]);
  assert.match(await readFile(h.config.config_file, 'utf8'), /weight 50/);
  await waitFor(async () => (await balancer.control.serverStates()).every((row) => row.be_name !== 'web' || row.srv_uweight === '50'), 'the new weights after the reload');
});

test('a reload HAProxy rejects (new port taken) keeps the old worker serving, is reported, and the next sync recovers', async () => {
  const worker = await balancer.control.workerPid();
  blocker = await occupy(busyPort);
  const extra = clusterOf('extra', { port: busyPort }, [member(web1)]);
  await assert.rejects(balancer.sync([web({ server_options: 'weight 50' }), extra]), (error: unknown) => {
    assert.ok(error instanceof LighthouseError);
    assert.equal(error.code, 'LH_HAPROXY_START');
    // Found before reloading: while HAProxy retries such a bind it pauses the old worker's listeners (see listeners.ts).
    assert.match(error.message, /cannot listen on 127\.0\.0\.1:\d+ \(cluster "extra"\): address already in use/);
    return true;
  });
  assert.equal(balancer.control.counters.reloadFailures, 1);
  assert.equal(await balancer.control.workerPid(), worker);
  assert.equal((await backendsReached(webPort, 6)).size, 2);
  blocker.close();
  blocker = undefined;
  // The writer retries the same state: the pending reload is attempted again.
  await balancer.sync([web({ server_options: 'weight 50' }), extra]);
  await waitFor(async () => (await httpGet(busyPort).catch(() => ({ status: 0, body: '' }))).status === 200, 'the new frontend after recovery');
  assert.notEqual(await balancer.control.workerPid(), worker);
});

test('cluster problems do not block other clusters: the bad one is left out and reported', async () => {
  const [apiPort] = await freePorts(1);
  await balancer.sync([web({ server_options: 'weight 50' }), clusterOf('clash', { port: webPort }, [member(web1)]), clusterOf('api', { port: apiPort }, [member(web2)])]);
  const text = await readFile(h.config.config_file, 'utf8');
  assert.match(text, /frontend api/);
  assert.doesNotMatch(text, /frontend clash/);
  assert.ok(h.logs.some((line) => line.includes('cluster \\"clash\\" left out of HAProxy: haproxy.port') && line.includes('already used by cluster \\"web\\"')));
  await waitFor(async () => (await httpGet(apiPort!).catch(() => ({ status: 0, body: '' }))).body.startsWith('web2'), 'the good new cluster to answer');
});

test('reloads closer than reload_min_interval_ms are coalesced into one deferred reload', async () => {
  // Wide enough that the three syncs land inside it on a loaded machine (400 ms was not, under load).
  const spaced = await harness({ reload_min_interval_ms: 3000 });
  try {
    const [aPort, bPort, cPort] = (await freePorts(3)) as [number, number, number];
    const deferred = spaced.create();
    await deferred.sync([clusterOf('a', { port: aPort }, [member(web1)])]);
    await deferred.sync([clusterOf('a', { port: aPort }, [member(web1)]), clusterOf('b', { port: bPort }, [member(web2)])]);
    // Within the interval of the previous (re)load: written, not yet loaded...
    await deferred.sync([clusterOf('a', { port: aPort }, [member(web1)]), clusterOf('b', { port: bPort }, [member(web2)]), clusterOf('c', { port: cPort }, [member(web1)])]);
    assert.match(await readFile(spaced.config.config_file, 'utf8'), /frontend c/);
    assert.equal(deferred.control.counters.reloads, 0);
    // ... then both structural changes arrive with a single reload.
    await waitFor(async () => deferred.control.counters.reloads === 1 && (await httpGet(cPort).catch(() => ({ status: 0, body: '' }))).status === 200, 'the deferred reload');
    assert.equal((await httpGet(bPort)).status, 200);
    assert.equal(deferred.control.counters.reloads, 1);
    assert.ok(spaced.logs.some((line) => line.includes('reload deferred')));
  } finally {
    await spaced.stop();
  }
});

test('a missing HAProxy binary is a clear error naming the setting, not a config rejection', async () => {
  const missing = await harness({ haproxy_binary: '/nonexistent/haproxy' });
  try {
    await assert.rejects(missing.create().sync([web()]), (error: unknown) => {
      assert.ok(error instanceof LighthouseError);
      assert.equal(error.code, 'LH_HAPROXY_START');
      assert.match(error.message, /haproxy_binary: the HAProxy binary "\/nonexistent\/haproxy" was not found/);
      return true;
    });
  } finally {
    await missing.stop();
  }
});
