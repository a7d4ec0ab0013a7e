import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writer } from '../../src/writer/writer.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { collectStatus } from '../../src/cli/status-command.js';
import { releaseHold } from '../../src/cli/release-hold-command.js';
import { coreRegistries } from '../support/core-registries.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import { ZookeeperCluster, connectClient, writeOriginalNode, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackend, startHttpBackends, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';

const BASE = '/lighthouse/services';

/**
 * The removal guard against real ZooKeeper and HAProxy: registrations are
 * made on a session of their own, so closing it makes all of them vanish at
 * once, as an expiry of every reporter session would.
 */
describe('removal guard: a cluster that vanishes from ZooKeeper stays routed', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let backends: HttpBackend[];
  let writer: Writer;
  let webPort: number;
  let registrations: ZkClient | undefined;

  const haproxy = () => writer.balancer('haproxy') as HaproxyBalancer;
  const key = (backend: HttpBackend) => `${backend.id}.test:${backend.port}`;
  const clusterFile = (guard = '') => `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n${guard}`;

  /** Servers HAProxy routes to (in the backend and not in maintenance). */
  async function serving(): Promise<Set<string>> {
    const rows = await haproxy().control.serverStats();
    return new Set(rows.filter((row) => row.proxy === 'web' && row.server !== 'BACKEND' && row.server !== 'FRONTEND' && !row.status.startsWith('MAINT')).map((row) => row.server));
  }

  async function register(list: HttpBackend[]): Promise<void> {
    registrations = await connectClient(zk.connectString);
    for (const backend of list) await writeOriginalNode(registrations, BASE, 'web', { host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, peer: null });
    const keys = list.map(key);
    await waitFor(async () => {
      const now = await serving();
      return now.size === keys.length && keys.every((name) => now.has(name));
    }, `HAProxy to route ${keys.join(', ')}`, 20_000);
    await waitFor(() => writer.state.get('web').hold === undefined && writer.state.get('web').listed === list.length, 'the writer to list them all');
  }

  /** Every registration vanishes at once: the session that owns them ends. */
  async function vanish(): Promise<void> {
    registrations?.close();
    registrations = undefined;
    await waitFor(() => writer.state.get('web').listed === 0, 'the writer to hear that ZooKeeper lists no members', 20_000);
  }

  async function heldGauge(): Promise<number | undefined> {
    const metric = await writer.metrics.heldMembers.get();
    return metric.values.find((value) => value.labels.cluster === 'web')?.value;
  }

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir();
    backends = await startHttpBackends('web', 5);
    [webPort] = await freePorts(1);
    await mkdirs(admin, `${BASE}/web`);
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
      'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
      'clusters/web.yaml': clusterFile(),
    });
    await mkdir(join(dir.path, 'run'), { recursive: true });
    const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: join(dir.path, 'writer.log') });
    writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log });
    await writer.start();
  });

  after(async () => {
    await writer?.stop();
    await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
    registrations?.close();
    admin?.close();
    await zk?.stop();
    await Promise.all(backends.map((backend) => backend.close()));
    await dir?.remove();
  });

  test('all registrations of a 5-node cluster deleted at once: HAProxy keeps all 5 serving, and status, metric and log say held', async () => {
    await register(backends);
    await vanish();
    const state = writer.state.get('web');
    assert.equal(state.members.length, 5, 'the writer still routes 5');
    assert.equal(state.held.length, 5);
    assert.deepEqual(await serving(), new Set(backends.map(key)), 'HAProxy keeps all 5 in rotation');
    for (let index = 0; index < 10; index += 1) assert.equal((await httpGet(webPort)).status, 200);
    assert.equal(await heldGauge(), 5, 'lighthouse_cluster_held_members');
    const line = await waitFor(async () => (await readFile(join(dir.path, 'writer.log'), 'utf8')).split('\n').find((text) => text.includes('LH_REMOVAL_HELD')), 'the hold log line');
    const logged = JSON.parse(line) as { cluster: string; listed: number; reference: number; msg: string };
    assert.equal(logged.cluster, 'web');
    assert.equal(logged.listed, 0);
    assert.equal(logged.reference, 5);
    assert.match(logged.msg, /cluster "web".*lists 0 members.*keeping 5 members routed/);
    const report = await waitFor(async () => {
      const status = await collectStatus(dir.path, coreRegistries(), 5_000);
      return status.clusters[0]?.hold ? status : undefined;
    }, 'status to show the hold');
    const cluster = report.clusters.find((entry) => entry.name === 'web')!;
    assert.equal(cluster.hold?.held.length, 5);
    assert.ok(cluster.members.every((member) => member.held && !member.registered), 'every member shows as held, not listed');
  });

  test('the members come back: the hold is released without a reload', async () => {
    const pid = await haproxy().control.workerPid();
    const reloads = haproxy().control.counters.reloads;
    await register(backends);
    assert.equal(writer.state.get('web').held.length, 0);
    assert.equal(await heldGauge(), 0);
    assert.equal(await haproxy().control.workerPid(), pid, 'same worker');
    assert.equal(haproxy().control.counters.reloads, reloads, 'no reload');
    await waitFor(async () => (await collectStatus(dir.path, coreRegistries(), 5_000)).clusters[0]?.hold === null, 'status to show no hold');
  });

  test('one node of 5 leaving is removed at once', async () => {
    const gone = backends[4]!;
    await registrations!.remove(`${BASE}/web/${key(gone)}`, -1);
    await waitFor(async () => !(await serving()).has(key(gone)), 'HAProxy to stop routing the node that left');
    assert.equal(writer.state.get('web').hold, undefined, 'no hold for a single removal');
    assert.equal((await serving()).size, 4);
    registrations?.close();
    registrations = undefined;
  });

  test('an operator releases a hold with release-hold: the held members are removed', async () => {
    await register(backends);
    await vanish();
    assert.equal((await serving()).size, 5);
    await waitFor(async () => (await collectStatus(dir.path, coreRegistries(), 5_000)).clusters[0]?.hold, 'status to show the hold');
    const outcome = await releaseHold(dir.path, 'web', 10_000);
    assert.deepEqual(outcome, { ok: true, removed: backends.map(key).sort() });
    await waitFor(async () => (await serving()).size === 0, 'HAProxy to empty the backend after the release');
    assert.deepEqual(await releaseHold(dir.path, 'web', 1_000), { ok: false, message: `${dir.path}: cluster "web" is not held (held: none) (a writer run with --state-dir needs the same --state-dir here)` });
  });

  test('a held member that is really dead causes no failed requests, and is removed', async () => {
    const dead = await startHttpBackend('web9');
    const all = [...backends, dead];
    await register(all);
    let failed = 0;
    let sent = 0;
    let sending = true;
    const traffic = (async () => {
      while (sending) {
        sent += 1;
        const answer = await httpGet(webPort, '/', {}, 10_000).catch(() => ({ status: 0, body: '' }));
        if (answer.status !== 200) failed += 1;
      }
    })();
    try {
      await dead.close();
      await vanish();
      assert.equal(writer.state.get('web').held.length, 6, 'all 6 held at first');
      await waitFor(async () => !(await serving()).has(key(dead)), 'the dead held member to be removed', 20_000);
      assert.equal((await serving()).size, 5, 'the live held members stay');
      assert.equal(writer.state.get('web').held.length, 5);
      const after = sent;
      await waitFor(() => sent >= after + 20, 'more requests after the removal');
    } finally {
      sending = false;
      await traffic;
    }
    assert.ok(sent > 20, `requests were sent (${sent})`);
    assert.equal(failed, 0, `no failed requests out of ${sent}`);
  });

  test('a writer restarted during a hold starts from the held members and holds them again', async () => {
    const held = writer.state.get('web').held.map((node) => `${node.host}:${node.port}`).sort();
    assert.equal(held.length, 5, 'the previous test left 5 held');
    await writer.stop();
    const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: join(dir.path, 'writer-2.log') });
    writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log });
    await writer.start();
    await waitFor(() => writer.state.get('web').revision > 0 && writer.ready, 'the restarted writer to hear from ZooKeeper and sync');
    assert.equal(writer.state.get('web').listed, 0);
    assert.deepEqual(writer.state.get('web').held.map((node) => `${node.host}:${node.port}`).sort(), held);
    assert.deepEqual(await serving(), new Set(held), 'HAProxy still routes the held members');
  });

  test('writer-wide defaults in the discovery file apply to its clusters', async () => {
    await writeFile(join(dir.path, 'discovery', 'zookeeper.yaml'), zookeeperYaml(zk.hosts, BASE, 'removal_guard:\n  min_members: 0\n  panic_threshold: 0\n'));
    await waitFor(async () => (await serving()).size === 0, 'the writer-wide default (no floor) to release the hold', 20_000);
    assert.equal(writer.state.get('web').hold, undefined);
    await writeFile(join(dir.path, 'discovery', 'zookeeper.yaml'), zookeeperYaml(zk.hosts, BASE));
    await waitFor(() => writer.clusters().length === 1 && writer.state.get('web').hold === undefined, 'the defaults file back');
    await register(backends);
    await vanish();
    assert.equal(writer.state.get('web').held.length, 5, 'held again with the built-in defaults');
  });

  test('with the guard switched off, the backend empties as before', async () => {
    await writeFile(join(dir.path, 'clusters', 'web.yaml'), clusterFile('removal_guard:\n  enabled: false\n'));
    await waitFor(() => writer.clusters().find((entry) => entry.item.name === 'web')?.item.removalGuard.enabled === false, 'the writer to read the new cluster file', 20_000);
    assert.equal(writer.state.get('web').hold, undefined, 'switching the guard off released the hold');
    await waitFor(async () => (await serving()).size === 0, 'the held members to be removed');
    await register(backends);
    await vanish();
    await waitFor(async () => (await serving()).size === 0, 'HAProxy to empty the backend', 20_000);
    assert.equal(writer.state.get('web').held.length, 0);
  });
});
