import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writer } from '../../src/writer/writer.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { coreRegistries } from '../support/core-registries.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import { ZookeeperCluster, connectClient, writeOriginalNode, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackends, backendsReached, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';

const BASE = '/lighthouse/services';

describe('writer end to end: ZooKeeper membership -> HAProxy', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let backends: HttpBackend[];
  let writer: Writer;
  let webPort: number;
  let apiPort: number;

  const node = (backend: HttpBackend, host = `${backend.id}.test`) => ({ host, ip: '127.0.0.1', port: backend.port, metadataJson: '{"v": 1}', peer: null });
  const haproxy = () => writer.balancer('haproxy') as HaproxyBalancer;
  const configText = () => readFile(join(dir.path, 'run', 'haproxy.cfg'), 'utf8');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir();
    backends = await startHttpBackends('web', 4);
    [webPort, apiPort] = await freePorts(2);
    await mkdirs(client, BASE);
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
      'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
      'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
    });
    await mkdir(join(dir.path, 'run'), { recursive: true });
    const log = createDaemonLogger('writer', { level: 'warn', format: 'json', destination: join(dir.path, 'writer.log') });
    const registries = coreRegistries();
    writer = new Writer({ configDir: dir.path, registries, log });
    await writer.start();
  });

  after(async () => {
    await writer?.stop();
    await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
    client?.close();
    await zk?.stop();
    await Promise.all(backends.map((backend) => backend.close()));
    await dir?.remove();
  });

  test('nodes written in the original byte format are routed', async () => {
    await writeOriginalNode(client, BASE, 'web', node(backends[0]!));
    await writeOriginalNode(client, BASE, 'web', node(backends[1]!));
    await waitFor(async () => (await backendsReached(webPort, 8).catch(() => new Set<string>())).size === 2, 'both nodes to get traffic');
  });

  test('a node added later is routed and a removed one stops getting traffic, with no reload', async () => {
    const pid = await haproxy().control.workerPid();
    assert.ok(pid, 'a worker is running');
    const path = await writeOriginalNode(client, BASE, 'web', node(backends[2]!));
    await waitFor(async () => (await backendsReached(webPort, 9)).has('web3'), 'the added node to get traffic');
    await client.remove(path, -1);
    await waitFor(() => !writer.state.get('web').members.some((member) => member.port === backends[2]!.port), 'the writer to see the removal');
    await waitFor(async () => !(await haproxy().control.serverStats()).some((row) => row.server === `web3.test:${backends[2]!.port}` && !row.status.startsWith('MAINT')), 'the server to leave rotation');
    const before = backends[2]!.requests;
    await backendsReached(webPort, 12);
    assert.equal(backends[2]!.requests, before, 'the removed node gets no more requests');
    assert.equal(await haproxy().control.workerPid(), pid, 'same worker: no reload');
  });

  test('a malformed or hostile znode is rejected and cannot change the HAProxy config', async () => {
    const before = await configText();
    const hostile = [
      Buffer.from(JSON.stringify({ host: 'evil.test', ip: '127.0.0.1\n  server x 10.0.0.1:80', port: 80 })),
      Buffer.from(JSON.stringify({ host: 'evil2.test', ip: '127.0.0.1', port: 'eighty' })),
      Buffer.from(JSON.stringify({ host: 'evil 3', ip: '127.0.0.1', port: 81 })),
      Buffer.from([0xff, 0xfe, 0x00]),
    ];
    for (const [index, data] of hostile.entries()) await writeOriginalNode(client, BASE, 'web', data, `bad-${index}`);
    await waitFor(() => writer.state.get('web').rejected.length === hostile.length, 'all hostile nodes rejected');
    // A good node added afterwards still gets through: one bad node does not block its cluster.
    await writeOriginalNode(client, BASE, 'web', node(backends[3]!));
    await waitFor(async () => (await backendsReached(webPort, 9)).has('web4'), 'the good node to be routed');
    const after = await configText();
    assert.ok(!after.includes('evil'), 'nothing of the hostile nodes reached the config');
    assert.ok(!after.includes('10.0.0.1'), 'no injected server line');
    assert.notEqual(before, '');
  });

  test('a cluster file added, changed and removed at run time adds, changes and removes its frontend', async () => {
    await writeOriginalNode(client, BASE, 'api', node(backends[0]!, 'api1.test'));
    await writeFile(join(dir.path, 'clusters', 'api.yaml'), `discovery: zookeeper\nhaproxy:\n  port: ${apiPort}\n`);
    await waitFor(async () => (await httpGet(apiPort).catch(() => undefined))?.status === 200, 'the api frontend to answer');
    await writeFile(join(dir.path, 'clusters', 'api.yaml'), `discovery: zookeeper\nhaproxy:\n  port: ${apiPort}\n  backend:\n    - "http-response set-header X-Cluster api"\n`);
    await waitFor(async () => (await configText()).includes('X-Cluster api'), 'the changed backend in the config');
    await rm(join(dir.path, 'clusters', 'api.yaml'));
    await waitFor(async () => (await httpGet(apiPort).catch(() => undefined)) === undefined, 'the api frontend to be gone');
    assert.ok(!(await configText()).includes('backend api'));
  });

  test('an invalid cluster file is rejected with file and setting named while the previous version keeps serving', async () => {
    const logFile = join(dir.path, 'writer.log');
    await writeFile(join(dir.path, 'clusters', 'web.yaml'), `discovery: zookeeper\nhaproxy:\n  port: "${webPort}x"\n`);
    await waitFor(async () => (await readFile(logFile, 'utf8')).includes('clusters/web.yaml: haproxy.port'), 'the problem to be logged with file and setting');
    assert.equal((await httpGet(webPort)).status, 200, 'the last good version keeps serving');
    await writeFile(join(dir.path, 'clusters', 'web.yaml'), `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n  backend:\n    - "http-response set-header X-Fixed yes"\n`);
    await waitFor(async () => (await configText()).includes('X-Fixed yes'), 'the fixed file to take effect');
  });

  test('ZooKeeper stopped: the backends remain and keep serving', async () => {
    const members = writer.state.get('web').members.length;
    await zk.stopServer(1);
    await waitFor(() => writer.clusters().length > 0, 'writer alive');
    // Give the writer time to notice the outage, then check nothing was purged.
    await waitFor(async () => (await readFile(join(dir.path, 'writer.log'), 'utf8')).includes('keeping the last known members'), 'the outage to be noticed');
    assert.equal(writer.state.get('web').members.length, members);
    const reached = await backendsReached(webPort, 10);
    assert.ok(reached.size >= 2, `traffic still balanced over the known members (${[...reached].join(', ')})`);
    await zk.restartServer(1);
  });

  test('a writer restarted while ZooKeeper is away keeps the last known members in HAProxy', async () => {
    await waitFor(async () => (await backendsReached(webPort, 10)).size >= 2, 'traffic balanced before the restart');
    const known = writer.state.get('web').members.length;
    await writer.stop();
    await zk.stopServer(1);
    const log = createDaemonLogger('writer', { level: 'warn', format: 'json', destination: join(dir.path, 'writer2.log') });
    writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log });
    await writer.start();
    assert.equal(writer.state.get('web').members.length, known, 'members seeded from the cache');
    await waitFor(() => writer.ready, 'the first sync of the restarted writer (after its startup wait)');
    const servers = (await haproxy().control.serverStats()).filter((row) => row.proxy === 'web' && row.server !== 'BACKEND' && row.server !== 'FRONTEND' && !row.status.startsWith('MAINT'));
    assert.equal(servers.length, known, 'no server was removed from HAProxy');
    const reached = await backendsReached(webPort, 10);
    assert.ok(reached.size >= 2, `still balanced over the known members (${[...reached].join(', ')})`);
    await zk.restartServer(1);
  });
});
