import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { collectStatus, formatStatus } from '../../src/cli/status-command.js';
import { coreRegistries } from '../support/core-registries.js';

const BASE = '/lighthouse/services';
const HOST = 'addr.test';

/** This machine's first non-loopback IPv4 address: what a reporter registers by default. */
function externalAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  return undefined;
}

async function listen(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return { server, port: (server.address() as { port: number }).port };
}

/**
 * Issue 18, gap 1: a service listening on 127.0.0.1 only, on a reporter that
 * registers the machine's address. Checking 127.0.0.1 passed it and
 * registered it, unreachable; checking the registered address fails it.
 */
describe('checks connect to the registered address unless the file sets host:', { skip: externalAddress() ? false : 'no non-loopback IPv4 address on this machine' }, () => {
  const ip = externalAddress()!;
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let daemon: DaemonProcess;
  const servers: Server[] = [];
  let loopbackOnly: number;
  let everywhere: number;
  let pinned: number;

  const registered = async (service: string): Promise<string[]> => (await admin.getChildren(`${BASE}/${service}`).catch(() => ({ children: [] as string[] }))).children;
  const log = async (): Promise<string> => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir();
    const a = await listen('127.0.0.1');
    const b = await listen('0.0.0.0');
    const c = await listen('127.0.0.1');
    servers.push(a.server, b.server, c.server);
    [loopbackOnly, everywhere, pinned] = [a.port, b.port, c.port];
    const service = (port: number, extra = '') => `discovery: zookeeper\nport: ${port}\n${extra}checks:\n  interval: 0.2\n  tcp:\n    rise: 1\n    fall: 1\n`;
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: ${ip}\n`),
      'services/local.yaml': service(loopbackOnly),
      'services/open.yaml': service(everywhere),
      'services/pinned.yaml': service(pinned, 'host: 127.0.0.1\n'),
      'logging.yaml': 'level: info\nformat: json\n',
    });
    daemon = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
  });

  after(async () => {
    await daemon?.stop();
    for (const server of servers) server.close();
    admin?.close();
    await zk?.stop();
    await dir?.remove();
  });

  test('a service on 127.0.0.1 only fails its check at the registered address and is not registered', async () => {
    await waitFor(async () => (await registered('open')).includes(`${HOST}:${everywhere}`), 'the service listening everywhere to be registered', 30_000);
    await waitFor(async () => new RegExp(`port ${loopbackOnly} check tcp failed: .*${ip.replace(/\./g, '\\.')}:${loopbackOnly}`).test(await log()), 'the loopback-only service to fail its check at the registered address', 30_000);
    assert.deepEqual(await registered('local'), []);
  });

  test('host: 127.0.0.1 set in the file is kept (and registered), with an LH_CHECK_ADDRESS warning naming the file', async () => {
    await waitFor(async () => (await registered('pinned')).includes(`${HOST}:${pinned}`), 'the pinned service to be registered', 30_000);
    const warning = (await log()).split('\n').find((line) => line.includes('LH_CHECK_ADDRESS'));
    assert.ok(warning, 'an LH_CHECK_ADDRESS line');
    const entry = JSON.parse(warning) as { level: string; file: string; msg: string };
    assert.equal(entry.level, 'warn');
    assert.match(entry.file, /services\/pinned\.yaml$/);
    assert.match(entry.msg, new RegExp(`checks connect to 127\\.0\\.0\\.1 but the reporter registers ${ip.replace(/\./g, '\\.')}`));
    assert.ok(!(await log()).includes('services/open.yaml: host:'), 'no warning for a service without host:');
  });

  test('status: a port not registered says why (the failing check and its output); the host: warning shows under its service', async () => {
    const report = await waitFor(async () => {
      const current = await collectStatus(dir.path, coreRegistries(), 5_000);
      return current.services.find((service) => service.name === 'local')?.ports[0]?.checks?.[0]?.passed === false ? current : undefined;
    }, 'status to show the failing check', 30_000, 200);
    const local = report.services.find((service) => service.name === 'local')!;
    assert.equal(local.checkHost, ip);
    assert.equal(local.ports[0]!.registered, false);
    assert.match(local.ports[0]!.checks![0]!.detail ?? '', new RegExp(`${ip.replace(/\./g, '\\.')}:${loopbackOnly}: .*(ECONNREFUSED|refused)`));
    const text = formatStatus(report);
    assert.match(text, new RegExp(`^  port ${loopbackOnly}: check tcp FAILS since \\S+: tcp ${ip.replace(/\./g, '\\.')}:${loopbackOnly}: `, 'm'), text);
    assert.match(text, /^service pinned \(discovery zookeeper\)\n(.*\n)* {2}warning \(LH_CHECK_ADDRESS\): \S*services\/pinned\.yaml: host: checks connect to 127\.0\.0\.1/m, text);
    assert.equal(report.services.find((service) => service.name === 'open')?.checkAddressWarning, null);
  });

  test('status with ZooKeeper down: registration unknown, and the problem said first', async () => {
    await zk.stop();
    const report = await collectStatus(dir.path, coreRegistries(), 2_000);
    const text = formatStatus(report);
    assert.match(text.split('\n')[0]!, /^problem: \S*discovery\/zookeeper\.yaml: discovery "zookeeper" did not answer within 2000 ms/, text);
    for (const service of report.services) assert.equal(service.ports[0]!.registered, null, `${service.name}: unknown, not "no"`);
    assert.doesNotMatch(text, /REGISTERED[^\n]*\n\s+\d+\s+\S+\s+no\b/, text);
  });
});
