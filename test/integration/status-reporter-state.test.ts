import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { runCli, type CliResult } from '../support/cli.js';
import type { StatusReport } from '../../src/cli/status-command.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

/**
 * A stalled handover (LH_HANDOVER_STALLED) and a registration conflict
 * (LH_REGISTRATION_CONFLICT) are known only inside the reporter; `lighthouse
 * status` (the built CLI, another process) shows them from the state file the
 * reporter keeps in its --state-dir, and calls a file left by a reporter that
 * no longer runs stale instead of showing it as the present.
 */

const HOST = 'status.test';
const CHECKS = 'checks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n';

interface LogLine {
  msg: string;
  code?: string;
  session?: string;
  holderSession?: string;
}

const lines = async (file: string): Promise<LogLine[]> =>
  (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);

const exists = (path: string) => access(path).then(() => true, () => false);

describe('lighthouse status: a stalled handover', () => {
  const BASE = '/lighthouse/status-handover';
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let web: ToggleService;
  let deadPort: number;
  let reporter: DaemonProcess | undefined;

  const configDir = () => join(dir.path, 'config');
  // Not the default: status must look where the reporter was told to keep its state.
  const stateDir = () => join(dir.path, 'state');
  const stateFile = () => join(stateDir(), 'reporter-state.json');
  const logFile = () => join(dir.path, 'reporter.log');
  const znode = () => `${BASE}/web/${HOST}:${web.port}`;
  const zkYaml = (hosts: string[]) => zookeeperYaml(hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`);
  const status = (...extra: string[]): Promise<CliResult> => runCli('status', configDir(), '--state-dir', stateDir(), '--timeout', '1500', ...extra);
  const statusJson = async (): Promise<StatusReport> => JSON.parse((await status('--json')).stdout) as StatusReport;
  const startReporter = () => startDaemon('reporter', configDir(), logFile(), ['--state-dir', stateDir()]);
  const stalled = async (): Promise<CliResult | undefined> => {
    const result = await status();
    return /handover stalled/.test(result.stdout) ? result : undefined;
  };

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-status-handover-');
    const [webPort, dead] = await freePorts(2);
    web = await startToggleService(webPort!);
    deadPort = dead!;
    await writeConfig(configDir(), {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zkYaml(zk.hosts),
      'services/web.yaml': `discovery: zookeeper\nport: ${web.port}\n${CHECKS}`,
    });
  });

  after(async () => {
    await reporter?.stop();
    await admin?.close();
    await zk?.stop();
    await web?.close();
    await dir?.remove();
  });

  test('shown naming the discovery file while stalled, gone once handed over; stale after SIGKILL; removed on SIGTERM', { timeout: 240_000 }, async (t) => {
    reporter = startReporter();
    try {
      await waitFor(() => admin.exists(znode()), 'web registered', 30_000);
      const healthy = await status();
      assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
      assert.doesNotMatch(healthy.stdout, /handover stalled|stale/);

      // Nothing listens there.
      await writeConfig(configDir(), { 'discovery/zookeeper.yaml': zkYaml([`127.0.0.1:${deadPort}`]) });
      const shown = await waitFor(stalled, 'status to show the stalled handover', 60_000, 500);
      assert.match(shown.stdout, /handover stalled \(LH_HANDOVER_STALLED\): service web cannot move to the new session of \S*config\/discovery\/zookeeper\.yaml \(discovery zookeeper, /);
      assert.equal(shown.code, 1);
      t.diagnostic(shown.stdout);
      const report = await statusJson();
      const stall = report.services.find((service) => service.name === 'web')?.handoverStalled;
      assert.ok(stall, JSON.stringify(report.services));
      assert.equal(stall.file, join(configDir(), 'discovery', 'zookeeper.yaml'));
      assert.ok(!Number.isNaN(Date.parse(stall.since)), stall.since);
      assert.equal(report.reporter?.stale, null);

      // Edited back: the new session takes over, and the line goes.
      await writeConfig(configDir(), { 'discovery/zookeeper.yaml': zkYaml(zk.hosts) });
      await waitFor(async () => !(await stalled()), 'the stall line to go', 60_000, 500);
      // The file stays while the reporter runs (it carries each port's checks), with no trouble in it.
      const calm = JSON.parse(await readFile(stateFile(), 'utf8')) as { stalled: unknown[]; conflicts: unknown[]; ports: { port: number; registered: boolean }[] };
      assert.deepEqual([calm.stalled, calm.conflicts], [[], []], 'nothing wrong in the state file');
      assert.ok(calm.ports.some((port) => port.port === web.port), 'the port and its checks are in the state file');
      const after = await status();
      assert.equal(after.code, 0, after.stdout + after.stderr);
      assert.match(after.stdout, new RegExp(`${web.port}\\s+${HOST}:${web.port}\\s+yes`));

      // Stalled again, then the reporter is killed: its file is left behind, and status must not show it as the present.
      await writeConfig(configDir(), { 'discovery/zookeeper.yaml': zkYaml([`127.0.0.1:${deadPort}`]) });
      await waitFor(stalled, 'status to show the second stall', 60_000, 500);
      reporter.signal('SIGKILL');
      await reporter.exited;
      assert.equal(await exists(stateFile()), true, 'SIGKILL leaves the file');
      const stale = await status();
      assert.doesNotMatch(stale.stdout, /handover stalled/);
      assert.match(stale.stdout, /problem: \S*reporter-state\.json: stale \(no reporter holds \S*reporter\.lock: reporter PID \d+, which wrote it, no longer runs\)/);
      assert.equal(stale.code, 1);
      t.diagnostic(stale.stdout);
      assert.ok((await statusJson()).reporter?.stale);

      // A new reporter clears the dead one's file at start.
      await writeConfig(configDir(), { 'discovery/zookeeper.yaml': zkYaml(zk.hosts) });
      reporter = startReporter();
      await waitFor(async () => (await statusJson()).reporter?.stale === null, 'the new reporter to replace the leftover file with its own', 30_000, 500);
      await waitFor(async () => (await status()).code === 0, 'status clean with the new reporter', 30_000, 500);

      // Stalled, then SIGTERM: a clean exit removes the file.
      await writeConfig(configDir(), { 'discovery/zookeeper.yaml': zkYaml([`127.0.0.1:${deadPort}`]) });
      await waitFor(stalled, 'status to show the third stall', 60_000, 500);
      assert.equal(await reporter.stop(20_000), 0);
      assert.equal(await exists(stateFile()), false, 'removed on a clean exit');
    } catch (error) {
      t.diagnostic((await readFile(logFile(), 'utf8').catch(() => '')).split('\n').slice(-40).join('\n'));
      throw error;
    }
  });
});

describe('lighthouse status: a registration conflict between two reporters', () => {
  const BASE = '/lighthouse/status-conflict';
  let zk: ZookeeperCluster;
  let dir: TempDir;
  let web: ToggleService;
  const reporters: DaemonProcess[] = [];

  const configDir = (index: number) => join(dir.path, index === 0 ? 'a' : 'b');
  const logFile = (index: number) => join(dir.path, `reporter-${index}.log`);
  const status = (index: number, ...extra: string[]) => runCli('status', configDir(index), '--timeout', '3000', ...extra);

  before(async () => {
    zk = await ZookeeperCluster.start();
    dir = await tempDir('lighthouse-status-conflict-');
    const [webPort] = await freePorts(1);
    web = await startToggleService(webPort!);
    // The same config twice: the same host name, so the same node (two machines with one name).
    const files = {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/web.yaml': `discovery: zookeeper\nport: ${web.port}\n${CHECKS}`,
    };
    await writeConfig(configDir(0), files);
    await writeConfig(configDir(1), files);
  });

  after(async () => {
    for (const reporter of reporters) await reporter.stop();
    await zk?.stop();
    await web?.close();
    await dir?.remove();
  });

  test('the reporter that yields shows the conflict naming the other session; the line goes when the other stops', { timeout: 180_000 }, async (t) => {
    reporters.push(startDaemon('reporter', configDir(0), logFile(0)), startDaemon('reporter', configDir(1), logFile(1)));
    try {
      const { yielded, conflict } = await waitFor(
        async () => {
          for (const index of [0, 1]) {
            const conflict = (await lines(logFile(index))).find((line) => line.code === 'LH_REGISTRATION_CONFLICT');
            if (conflict) return { yielded: index, conflict };
          }
          return undefined;
        },
        'one reporter to yield',
        60_000,
        200,
      );
      const holder = 1 - yielded;

      const text = await waitFor(async () => {
        const result = await status(yielded);
        return /registration conflict/.test(result.stdout) ? result : undefined;
      }, 'status to show the conflict', 20_000, 300);
      assert.equal(text.code, 1);
      t.diagnostic(text.stdout);
      assert.match(text.stdout, new RegExp(`${web.port}\\s+${HOST}:${web.port}\\s+conflict\\s`));
      assert.match(
        text.stdout,
        new RegExp(`registration conflict \\(LH_REGISTRATION_CONFLICT\\): service web port ${web.port}: ${HOST}:${web.port} is held by another session ${conflict.holderSession} \\(${HOST} 127\\.0\\.0\\.1\\) since \\S+; this reporter \\(session ${conflict.session}\\) yields it`),
      );
      const report = JSON.parse((await status(yielded, '--json')).stdout) as StatusReport;
      const port = report.services[0]?.ports[0];
      assert.equal(port?.conflict?.holder.session, conflict.holderSession, JSON.stringify(report.services));
      assert.equal(port?.conflict?.session, conflict.session);

      // The other reporter holds the node: registered, no conflict.
      const other = await status(holder);
      assert.equal(other.code, 0, other.stdout + other.stderr);
      assert.doesNotMatch(other.stdout, /conflict/);

      // The holder stops: the one that yielded registers again, and its status line goes.
      assert.equal(await reporters[holder]!.stop(20_000), 0);
      const clean = await waitFor(async () => {
        const result = await status(yielded);
        return result.code === 0 && !/conflict/.test(result.stdout) ? result : undefined;
      }, 'the conflict to leave status', 30_000, 300);
      assert.match(clean.stdout, new RegExp(`${web.port}\\s+${HOST}:${web.port}\\s+yes`));
    } catch (error) {
      for (const index of [0, 1]) t.diagnostic((await readFile(logFile(index), 'utf8').catch(() => '')).split('\n').slice(-20).join('\n'));
      throw error;
    }
  });
});
