import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ZookeeperCluster } from '../support/zookeeper.js';
import { startHttpBackends, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import type { StatusReport } from '../../src/cli/status-command.js';
import { BUILT_CLI, runCli } from '../support/cli.js';
import { haproxySettings } from '../support/daemon-config.js';

/**
 * `status`, `drain`/`undrain` and the daemons' metrics, end to end: a real
 * ZooKeeper, the built CLI running a writer (driving a real HAProxy) and a
 * reporter as child processes on one config dir, two HTTP backends.
 */

const HOST = 'node-1.lighthouse.test';

let zk: ZookeeperCluster;
let dir: TempDir;
let backends: HttpBackend[];
let ports: { frontend: number; writerMetrics: number; reporterMetrics: number };
let writer: ChildProcess | undefined;
let reporter: ChildProcess | undefined;
let haproxyPid: number | undefined;

function daemon(command: 'writer' | 'reporter', metricsPort: number): ChildProcess {
  const child = spawn(process.execPath, [BUILT_CLI, command, join(dir.path, 'config'), '--metrics-port', String(metricsPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log = (log + chunk.toString('utf8')).slice(-20_000)));
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString('utf8')).slice(-20_000)));
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`${command} exited (${code ?? signal}):\n${log}\n`);
  });
  return child;
}

async function stopDaemon(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}


async function status(): Promise<StatusReport> {
  const result = await runCli('status', join(dir.path, 'config'), '--json');
  return JSON.parse(result.stdout) as StatusReport;
}

async function metrics(port: number): Promise<string> {
  return (await httpGet(port, '/metrics')).body;
}

/** Sum of a metric's samples whose label set contains every given label. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

before(async () => {
  assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
  zk = await ZookeeperCluster.start();
  dir = await tempDir('lighthouse-operator-');
  backends = await startHttpBackends('b', 2);
  const [frontend, writerMetrics, reporterMetrics] = await freePorts(3);
  ports = { frontend: frontend!, writerMetrics: writerMetrics!, reporterMetrics: reporterMetrics! };
  const config = join(dir.path, 'config');
  const files: Record<string, unknown> = {
    'logging.yaml': { level: 'info', format: 'json' },
    'discovery/zookeeper.yaml': { hosts: zk.hosts, path: '/lighthouse/services', session_timeout_ms: 4000, advertise: { host: HOST, ip: '127.0.0.1' } },
    'balancers/haproxy.yaml': haproxySettings(dir.path),
    'clusters/web.yaml': { discovery: 'zookeeper', haproxy: { port: ports.frontend, backend: ['mode http'] } },
    'services/web.yaml': { discovery: 'zookeeper', ports: backends.map((backend) => backend.port), checks: { interval: 0.2, http: { uri: '/health', rise: 2, fall: 2 } } },
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(config, path, '..'), { recursive: true });
    await writeFile(join(config, path), stringify(content));
  }
  writer = daemon('writer', ports.writerMetrics);
  reporter = daemon('reporter', ports.reporterMetrics);
});

after(async () => {
  await stopDaemon(reporter);
  await stopDaemon(writer);
  haproxyPid ??= Number((await readFile(join(dir.path, 'haproxy.pid'), 'utf8').catch(() => '')).trim()) || undefined;
  if (haproxyPid) {
    try {
      process.kill(haproxyPid, 'SIGTERM');
      await waitFor(() => {
        try {
          process.kill(haproxyPid!, 0);
          return false;
        } catch {
          return true;
        }
      }, 'HAProxy to exit', 5_000);
    } catch {
      try {
        process.kill(haproxyPid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  await Promise.all(backends.map((backend) => backend.close()));
  await zk.stop();
  await dir.remove();
});

const nodeOf = (backend: HttpBackend): string => `${HOST}:${backend.port}`;

test('status: members in ZooKeeper and in HAProxy, local ports registered (JSON and table)', { timeout: 60_000 }, async () => {
  const report = await waitFor(
    async () => {
      const current = await status();
      const web = current.clusters.find((cluster) => cluster.name === 'web');
      return web && web.members.length === 2 && web.members.every((member) => member.registered && member.haproxy !== null) && current.problems.length === 0 ? current : undefined;
    },
    'both backends registered and in HAProxy',
    45_000,
    250,
  );
  const web = report.clusters[0]!;
  assert.deepEqual(web.members.map((member) => member.node).sort(), backends.map(nodeOf).sort());
  for (const member of web.members) {
    assert.match(member.haproxy ?? '', /^(UP|no check)/);
    assert.equal(typeof member.currentSessions, 'number');
  }
  assert.deepEqual(
    report.services.map(({ name, discovery, ports, handoverStalled }) => ({ name, discovery, handoverStalled, ports: ports.map(({ port, node, registered, drained, conflict }) => ({ port, node, registered, drained, conflict })) })),
    [{ name: 'web', discovery: 'zookeeper', ports: backends.map((backend) => ({ port: backend.port, node: nodeOf(backend), registered: true, drained: null, conflict: null })), handoverStalled: null }],
  );
  // The running reporter's view of each port: its checks, last result and output.
  for (const port of report.services[0]!.ports) {
    assert.equal(port.up, true);
    assert.equal(port.checks?.length, 1);
    assert.deepEqual([port.checks![0]!.kind, port.checks![0]!.passed], ['http', true]);
    assert.match(port.checks![0]!.detail ?? '', new RegExp(`127\\.0\\.0\\.1:${port.port}/health: HTTP 200`));
  }
  assert.equal(report.services[0]!.checkAddressWarning, null);
  // The writer: running, synced, and each cluster's listening address.
  assert.equal(report.writer?.running, true);
  assert.ok(report.writer?.lastSync && !Number.isNaN(Date.parse(report.writer.lastSync)), JSON.stringify(report.writer));
  assert.equal(web.listen, `127.0.0.1:${ports.frontend}`);
  assert.equal(web.inSync, true);

  const table = await runCli('status', join(dir.path, 'config'));
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^writer: running \(PID \d+\), last sync \d{4}-\d\d-\d\dT\S+ \(\d+ (s|min) ago\)$/m);
  assert.match(table.stdout, new RegExp(`^cluster web \\(discovery zookeeper, listens on 127\\.0\\.0\\.1:${ports.frontend}\\): 2 registered, HAProxy in line$`, 'm'));
  assert.match(table.stdout, /NODE\s+ADDRESS\s+DISCOVERY\s+HAPROXY\s+SESSIONS/);
  for (const backend of backends) {
    assert.match(table.stdout, new RegExp(`${nodeOf(backend).replace(/\./g, '\\.')}\\s+127\\.0\\.0\\.1:${backend.port}\\s+listed\\s+(UP|no check)`));
    assert.match(table.stdout, new RegExp(`^\\s+${backend.port}\\s+${nodeOf(backend).replace(/\./g, '\\.')}\\s+yes\\s+no$`, 'm'));
  }
  // Traffic really flows through the HAProxy that status reads.
  assert.equal((await httpGet(ports.frontend, '/')).status, 200);
});

test('metrics: lighthouse_* names present on both daemons, and moving with changes', { timeout: 60_000 }, async () => {
  const writerText = await metrics(ports.writerMetrics);
  for (const name of ['lighthouse_cluster_members', 'lighthouse_membership_changes_total', 'lighthouse_balancer_syncs_total', 'lighthouse_convergence_seconds_bucket', 'lighthouse_discovery_connected', 'lighthouse_haproxy_runtime_commands_total', 'lighthouse_haproxy_reloads_total', 'lighthouse_haproxy_reload_failures_total', 'lighthouse_haproxy_starts_total']) {
    assert.match(writerText, new RegExp(`^${name}[{ ]`, 'm'), `writer exposes ${name}`);
  }
  assert.equal(sample(writerText, 'lighthouse_cluster_members', { cluster: 'web' }), 2);
  assert.equal(sample(writerText, 'lighthouse_discovery_connected'), 1);
  assert.ok(sample(writerText, 'lighthouse_haproxy_starts_total') >= 1, 'the writer started HAProxy');
  const reporterText = await metrics(ports.reporterMetrics);
  for (const name of ['lighthouse_checks_total', 'lighthouse_check_duration_seconds_bucket', 'lighthouse_registrations', 'lighthouse_discovery_sessions_total']) {
    assert.match(reporterText, new RegExp(`^${name}[{ ]`, 'm'), `reporter exposes ${name}`);
  }
  await waitFor(async () => sample(await metrics(ports.reporterMetrics), 'lighthouse_registrations', { service: 'web' }) === 2, 'the registrations gauge to count both ports', 10_000, 100);
  const checksBefore = sample(reporterText, 'lighthouse_checks_total', { service: 'web' });
  await waitFor(async () => sample(await metrics(ports.reporterMetrics), 'lighthouse_checks_total', { service: 'web' }) > checksBefore, 'check counter to move');
  assert.equal((await httpGet(ports.writerMetrics, '/healthz')).status, 200);
  assert.equal((await httpGet(ports.reporterMetrics, '/healthz')).status, 200);
});

test('metrics: per-server state, last sync time, per-port checks and registrations; no `daemon` label but on build_info', { timeout: 60_000 }, async () => {
  const writerText = await metrics(ports.writerMetrics);
  const lastSync = sample(writerText, 'lighthouse_last_sync_timestamp_seconds');
  assert.ok(lastSync > Date.now() / 1000 - 3600 && lastSync <= Date.now() / 1000 + 1, `lighthouse_last_sync_timestamp_seconds is a Unix time: ${lastSync}`);
  for (const backend of backends) {
    const server = nodeOf(backend);
    // Both serve: HAProxy has them up (checked) or unchecked (routed without a check), never down.
    assert.equal(sample(writerText, 'lighthouse_server_state', { cluster: 'web', server }), 1, `one state at 1 for ${server}`);
    assert.equal(sample(writerText, 'lighthouse_server_state', { cluster: 'web', server, state: 'down' }), 0);
    assert.equal(sample(writerText, 'lighthouse_server_state', { cluster: 'web', server, state: 'up' }) + sample(writerText, 'lighthouse_server_state', { cluster: 'web', server, state: 'unchecked' }), 1);
  }
  const reporterText = await metrics(ports.reporterMetrics);
  for (const backend of backends) {
    const port = String(backend.port);
    assert.equal(sample(reporterText, 'lighthouse_registrations', { service: 'web', port }), 1, `port ${port} registered`);
    assert.equal(sample(reporterText, 'lighthouse_check_up', { service: 'web', port }), 1, `port ${port} checks up`);
    assert.ok(sample(reporterText, 'lighthouse_checks_total', { service: 'web', port, result: 'pass' }) > 0, `checks of port ${port} counted`);
  }
  for (const [daemon, text] of [['writer', writerText], ['reporter', reporterText]] as const) {
    const labelled = text.split('\n').filter((line) => line.includes('daemon="'));
    assert.deepEqual(labelled.map((line) => line.slice(0, line.indexOf('{'))), ['lighthouse_build_info'], `${daemon}: only build_info says the daemon`);
  }
});

test('drain/undrain: the reporter deregisters and keeps the port out across a restart; undrain brings it back', { timeout: 60_000 }, async () => {
  const [drained, other] = backends as [HttpBackend, HttpBackend];
  const config = join(dir.path, 'config');
  const writerBefore = await metrics(ports.writerMetrics);

  const drain = await runCli('drain', config, 'web', '--port', String(drained.port), '--reason', 'kernel upgrade');
  assert.equal(drain.code, 0, drain.stderr);
  await waitFor(
    async () => {
      const report = await status();
      const port = report.services[0]?.ports.find((entry) => entry.port === drained.port);
      const member = report.clusters[0]?.members.find((entry) => entry.node === nodeOf(drained));
      return port && !port.registered && port.drained?.reason === 'kernel upgrade' && (!member || !member.registered);
    },
    'the drained port to leave ZooKeeper and status to show the reason',
    20_000,
    200,
  );
  const table = await runCli('status', config);
  assert.match(table.stdout, new RegExp(`${drained.port}\\s+\\S+\\s+no\\s+yes: kernel upgrade`));
  // The writer saw it go: membership change applied through the runtime API.
  await waitFor(async () => {
    const text = await metrics(ports.writerMetrics);
    return sample(text, 'lighthouse_cluster_members', { cluster: 'web' }) === 1 && sample(text, 'lighthouse_membership_changes_total', { cluster: 'web' }) > sample(writerBefore, 'lighthouse_membership_changes_total', { cluster: 'web' }) && sample(text, 'lighthouse_haproxy_runtime_commands_total') > sample(writerBefore, 'lighthouse_haproxy_runtime_commands_total');
  }, 'writer metrics to move with the drain', 20_000, 200);

  // A restarted reporter reads the drain before its first registration.
  await stopDaemon(reporter);
  await waitFor(async () => (await status()).services[0]?.ports.every((entry) => !entry.registered), 'the stopped reporter to deregister everything', 20_000, 200);
  reporter = daemon('reporter', ports.reporterMetrics);
  await waitFor(async () => (await status()).services[0]?.ports.find((entry) => entry.port === other.port)?.registered, 'the undrained port to be registered again after the restart', 30_000, 200);
  // Enough check rounds for the drained port to have registered too, were the drain not applied (rise is 2).
  const passes = (text: string): number => sample(text, 'lighthouse_checks_total', { service: 'web', result: 'pass' });
  const start = passes(await metrics(ports.reporterMetrics));
  await waitFor(async () => passes(await metrics(ports.reporterMetrics)) >= start + 10, 'ten more passing checks', 20_000, 100);
  const afterRestart = await status();
  assert.equal(afterRestart.services[0]?.ports.find((entry) => entry.port === drained.port)?.registered, false, 'still drained after the reporter restarted');

  const undrain = await runCli('undrain', config, 'web', '--port', String(drained.port));
  assert.equal(undrain.code, 0, undrain.stderr);
  await waitFor(
    async () => {
      const report = await status();
      const port = report.services[0]?.ports.find((entry) => entry.port === drained.port);
      const member = report.clusters[0]?.members.find((entry) => entry.node === nodeOf(drained));
      return port?.registered && port.drained === null && member?.registered && member.haproxy !== null;
    },
    'the undrained port back in ZooKeeper and HAProxy',
    20_000,
    200,
  );

  const unknown = await runCli('drain', config, 'nope');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no service "nope" \(services: web\)/);
  const badPort = await runCli('drain', config, 'web', '--port', '1');
  assert.equal(badPort.code, 1);
  assert.match(badPort.stderr, /services\/web\.yaml: ports: service "web" has no port 1/);
});
