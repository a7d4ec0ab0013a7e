import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { httpGet } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { startRedis, redisUnavailable, type RedisServer } from '../support/redis.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';

const BASE = '/lighthouse/services';
const HOST = 'app.test';

/** The bytes the original Python reporter writes for a node (built by hand, not with our encoder). */
function originalBytes(port: number, metadata: string): string {
  const peer = JSON.stringify(`{"ip": "127.0.0.1", "name": "${HOST}", "port": 1024}`);
  return `{"host": "${HOST}", "ip": "127.0.0.1", "metadata": ${JSON.stringify(metadata)}, "peer": ${peer}, "port": ${port}}`;
}

describe('reporter end to end: checks -> registrations -> routed by the writer', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let services: ToggleService[];
  let hung: ToggleService;
  let redis: RedisServer | undefined;
  let reporter: DaemonProcess;
  let writer: DaemonProcess;
  let webPort: number;

  const znode = (service: string, port: number) => `${BASE}/${service}/${HOST}:${port}`;
  const exists = async (service: string, port: number) => (await client.exists(znode(service, port))) !== null;
  const reporterLog = () => readFile(join(dir.path, 'reporter.log'), 'utf8');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    await mkdirs(client, BASE);
    dir = await tempDir();
    const ports = await freePorts(4);
    webPort = ports[3]!;
    services = await Promise.all(ports.slice(0, 2).map(startToggleService));
    hung = await startToggleService(ports[2]!);
    hung.hang = true;
    if (!redisUnavailable()) redis = await startRedis();
    await mkdir(join(dir.path, 'run'));
    const checks = (uri: string) => `checks:\n  interval: 0.2\n  http:\n    uri: ${uri}\n    rise: 2\n    fall: 2\n    timeout: 0.5\n`;
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
      'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
      'services/web.yaml': `discovery: zookeeper\nports: [${services[0]!.port}, ${services[1]!.port}]\nmetadata:\n  version: "1.0"\n${checks('/health')}`,
      'services/hung.yaml': `discovery: zookeeper\nport: ${hung.port}\n${checks('/health')}`,
      ...(redis ? { 'services/cache.yaml': `discovery: zookeeper\nport: ${redis.port}\nchecks:\n  interval: 0.2\n  redis:\n    rise: 1\n    fall: 1\n` } : {}),
      'logging.yaml': 'level: debug\nformat: json\n',
    });
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
    writer = startDaemon('writer', dir.path, join(dir.path, 'writer.log'));
  });

  after(async () => {
    await reporter?.stop();
    await writer?.stop();
    await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
    client?.close();
    await zk?.stop();
    await Promise.all([...(services ?? []), ...(hung ? [hung] : [])].map((service) => service.close()));
    await redis?.stop();
    await dir?.remove();
  });

  test('two ports of one service are registered in the original byte format and routed by the writer', async () => {
    for (const service of services) await waitFor(() => exists('web', service.port), `port ${service.port} registered`, 20_000);
    for (const service of services) {
      const { data, stat } = await client.getData(znode('web', service.port));
      assert.equal(data.toString('utf8'), originalBytes(service.port, '{"version": "1.0"}'));
      assert.ok(!stat.ephemeralOwner.equals(Buffer.alloc(8)), 'the node is ephemeral');
    }
    await waitFor(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i += 1) seen.add((await httpGet(webPort).catch(() => ({ body: '' }))).body);
      return services.every((service) => seen.has(`port-${service.port}`));
    }, 'traffic through HAProxy to both ports', 20_000);
  });

  test('a port that accepts but never answers times out without delaying the other services', async () => {
    assert.equal(await exists('hung', hung.port), false);
    await waitFor(async () => (await reporterLog()).includes(`${hung.port}`), 'the hung check to be reported');
    // The healthy ports kept their registrations and transitions while the hung check timed out.
    services[1]!.healthy = false;
    await waitFor(async () => !(await exists('web', services[1]!.port)), 'the failing port to deregister after fall');
    services[1]!.healthy = true;
    await waitFor(() => exists('web', services[1]!.port), 'the port to register again after rise');
    assert.equal(await exists('hung', hung.port), false, 'the hung service never registered');
  });

  test('a changed metadata value replaces the znode without it ever disappearing', async () => {
    const path = znode('web', services[0]!.port);
    const before = await client.getData(path);
    let vanished = false;
    const watchUntil = Date.now() + 30_000;
    const watching = (async () => {
      while (Date.now() < watchUntil && !vanished) {
        if ((await client.exists(path)) === null) vanished = true;
        const data = await client.getData(path).catch(() => undefined);
        if (data?.data.toString().includes('2.0')) return;
      }
    })();
    const file = join(dir.path, 'services', 'web.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('version: "1.0"', 'version: "2.0"'));
    await watching;
    const after = await client.getData(path);
    assert.equal(vanished, false, 'the znode never disappeared');
    assert.equal(after.data.toString(), originalBytes(services[0]!.port, '{"version": "2.0"}'));
    // Replaced in one transaction (never missing, see above), so writers that watch only the child list see it too.
    assert.ok(!after.stat.czxid.equals(before.stat.czxid), 're-created');
  });

  test('a Redis service registers, and deregisters when redis-server is stopped', { skip: redisUnavailable() }, async () => {
    await waitFor(() => exists('cache', redis!.port), 'redis registered');
    await redis!.kill();
    await waitFor(async () => !(await exists('cache', redis!.port)), 'redis deregistered');
  });

  test('frozen past the session timeout, the reporter registers again on resuming', async () => {
    for (const service of services) await waitFor(() => exists('web', service.port), 'registered before freezing');
    const before = await client.getData(znode('web', services[0]!.port));
    reporter.signal('SIGSTOP');
    // The ensemble expires the frozen session and deletes its ephemerals.
    await waitFor(async () => !(await exists('web', services[0]!.port)), 'the expired session\'s znodes to vanish', 20_000);
    const resumedAt = performance.now();
    reporter.signal('SIGCONT');
    for (const service of services) await waitFor(() => exists('web', service.port), `port ${service.port} registered again`, 20_000);
    const after = await client.getData(znode('web', services[0]!.port));
    assert.ok(!after.stat.ephemeralOwner.equals(before.stat.ephemeralOwner), 'registered by a new session');
    // Reported, not asserted: timing depends on the machine.
    console.log(`# re-registered ${(performance.now() - resumedAt).toFixed(0)} ms after SIGCONT`);
  });

  test('SIGTERM removes the registrations at once and the writer keeps HAProxy serving', async () => {
    for (const service of services) await waitFor(() => exists('web', service.port), 'registered before stopping');
    const code = await reporter.stop();
    assert.equal(code, 0, 'the reporter exits 0');
    // Gone right after exit, not after the session timeout: checked once, no waiting.
    for (const service of services) assert.equal(await exists('web', service.port), false, `port ${service.port} deregistered`);
    const writerCode = await writer.stop();
    assert.equal(writerCode, 0);
    const answer = await httpGet(webPort).catch((error: Error) => ({ status: 0, body: error.message }));
    assert.ok(answer.status === 503 || answer.status === 200, `HAProxy still answers after the writer exited (got ${answer.status} ${answer.body})`);
  });
});
