import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { StatusReport } from '../../src/cli/status-command.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { runCli, type CliResult } from '../support/cli.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { writeConfig } from '../support/daemon-config.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient, ZookeeperCluster } from '../support/zookeeper.js';

/**
 * `lighthouse maintenance` (#18.10) end to end: a real ZooKeeper, a real
 * reporter process checking real TCP listeners, the built CLI. Maintenance
 * drains every service of the machine (also one added meanwhile) with its
 * reason in status and the log; `off` brings them back, except a service an
 * operator drained on its own.
 */
const BASE = '/lighthouse/services';
const HOST = 'maint-1.lighthouse.test';

let zk: ZookeeperCluster;
let client: ZkClient;
let dir: TempDir;
let configDir: string;
let reporter: DaemonProcess;
let log: string;
const listeners: Server[] = [];
let ports: number[];

async function listen(port: number): Promise<void> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  listeners.push(server);
}

function serviceYaml(servicePorts: number[]): string {
  return stringify({ discovery: 'zookeeper', ports: servicePorts, checks: { interval: 0.2, tcp: { rise: 1, fall: 1 } } });
}

async function registered(service: string): Promise<string[]> {
  try {
    return (await client.getChildren(`${BASE}/${service}`)).children.sort();
  } catch {
    return [];
  }
}

function cli(...args: string[]): Promise<CliResult> {
  return runCli(...args);
}

async function status(): Promise<StatusReport> {
  return JSON.parse((await cli('status', configDir, '--json')).stdout) as StatusReport;
}

before(async () => {
  zk = await ZookeeperCluster.start();
  client = await connectClient(zk.connectString);
  dir = await tempDir('lighthouse-maintenance-');
  configDir = join(dir.path, 'config');
  ports = await freePorts(4);
  for (const port of ports) await listen(port);
  await writeConfig(configDir, {
    'logging.yaml': 'level: info\nformat: json\n',
    'discovery/zookeeper.yaml': stringify({ hosts: zk.hosts, path: BASE, session_timeout_ms: 4000, advertise: { host: HOST, ip: '127.0.0.1' } }),
    'services/web.yaml': serviceYaml([ports[0]!, ports[1]!]),
    'services/api.yaml': serviceYaml([ports[2]!]),
  });
  log = join(dir.path, 'reporter.log');
  reporter = startDaemon('reporter', configDir, log);
  await waitFor(async () => (await registered('web')).length === 2 && (await registered('api')).length === 1, 'web (2 ports) and api registered', 60_000);
});

after(async () => {
  await reporter?.stop();
  client?.close();
  for (const server of listeners) server.close();
  await zk?.stop();
  await dir?.remove();
});

test('maintenance on drains every service at once with its reason; a service added meanwhile stays out; off restores all but a service drained on its own', { timeout: 180_000 }, async () => {
  // An operator's own drain of api, before maintenance: it must outlive maintenance.
  const own = await cli('drain', configDir, 'api', '--reason', 'canary');
  assert.equal(own.code, 0, own.stderr);
  await waitFor(async () => (await registered('api')).length === 0, 'api deregistered by its own drain', 30_000);

  const on = await cli('maintenance', configDir, 'on', '--reason', 'kernel upgrade');
  assert.equal(on.code, 0, on.stderr);
  assert.match(on.stdout, /^maintenance on since \S+ \(kernel upgrade\): the reporter deregisters every service of this machine \(api, web\)/);
  await waitFor(async () => (await registered('web')).length === 0, 'web deregistered by maintenance', 30_000);

  const shown = await cli('maintenance', configDir);
  assert.match(shown.stdout, /^maintenance on since \S+: kernel upgrade$/m);
  const report = await status();
  assert.equal(report.maintenance?.reason, 'kernel upgrade');
  for (const service of report.services) for (const port of service.ports) assert.equal(port.drained?.reason, 'maintenance: kernel upgrade', `${service.name}:${port.port}`);
  const text = await cli('status', configDir);
  assert.match(text.stdout, /^MAINTENANCE since \S+: kernel upgrade; every service of this machine is drained/m);
  await waitFor(async () => /service web: draining port\(s\) all: maintenance: kernel upgrade/.test(await readFile(log, 'utf8')), 'the reason in the reporter log', 30_000);
  assert.match(await readFile(log, 'utf8'), /maintenance on since \S+: kernel upgrade; every service of this machine is drained/);

  // A service added during maintenance starts drained.
  await writeFile(join(configDir, 'services/extra.yaml'), serviceYaml([ports[3]!]));
  await waitFor(async () => /service extra: draining port\(s\) all: maintenance: kernel upgrade/.test(await readFile(log, 'utf8')), 'the new service drained by maintenance', 30_000);
  assert.deepEqual(await registered('extra'), []);

  const off = await cli('maintenance', configDir, 'off');
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /maintenance off: .*still drained on their own: api/);
  await waitFor(async () => (await registered('web')).length === 2 && (await registered('extra')).length === 1, 'web and extra registered again', 60_000);
  assert.deepEqual(await registered('api'), [], 'api keeps its own drain');
  const after = await status();
  assert.equal(after.maintenance, null);
  assert.equal(after.services.find((service) => service.name === 'api')?.ports[0]?.drained?.reason, 'canary');

  const again = await cli('maintenance', configDir, 'off');
  assert.match(again.stdout, /not on; nothing to do/);
  const bad = await cli('maintenance', configDir, 'of');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /"of" is not on, off/);
});

test('maintenance survives a reporter restart: nothing is registered while it is on', { timeout: 180_000 }, async () => {
  assert.equal((await cli('maintenance', configDir, 'on', '--reason', 'rack move')).code, 0);
  await waitFor(async () => (await registered('web')).length === 0 && (await registered('extra')).length === 0, 'deregistered', 30_000);
  await reporter.stop();
  await writeFile(log, '');
  reporter = startDaemon('reporter', configDir, log);
  // The drain file is read before the first runner starts: web is drained from its start, never registered.
  await waitFor(async () => /service web: draining port\(s\) all: maintenance: rack move/.test(await readFile(log, 'utf8')), 'the restarted reporter drained web', 60_000);
  await waitFor(async () => (await status()).services.find((service) => service.name === 'web')?.ports.every((port) => port.registered === false), 'status: web not registered (discovery answered)', 30_000);
  assert.deepEqual(await registered('web'), []);
  assert.equal((await cli('maintenance', configDir, 'off')).code, 0);
  await waitFor(async () => (await registered('web')).length === 2, 'web back after off', 60_000);
  assert.match(await readFile(log, 'utf8'), /maintenance on since \S+: rack move/, 'the restarted reporter logs the maintenance it starts in');
});

test('undrain during maintenance says the service stays drained by it, not "back in rotation"', { timeout: 60_000 }, async () => {
  assert.equal((await cli('drain', configDir, 'web', '--reason', 'own')).code, 0);
  assert.equal((await cli('maintenance', configDir, 'on', '--reason', 'power work')).code, 0);
  const undrain = await cli('undrain', configDir, 'web');
  assert.equal(undrain.code, 0, undrain.stderr);
  assert.doesNotMatch(undrain.stdout, /back in rotation/);
  assert.match(undrain.stdout, /no longer drained on its own\. The machine is in maintenance since \S+ \(power work\): every service stays drained until `lighthouse maintenance .* off`/);
  assert.equal((await cli('maintenance', configDir, 'off')).code, 0);
  await waitFor(async () => (await registered('web')).length === 2, 'web back after off', 60_000);
});
