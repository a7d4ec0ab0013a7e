import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { collectStatus, formatStatus } from '../../src/cli/status-command.js';
import { coreRegistries } from '../support/core-registries.js';
import { ZookeeperCluster, connectClient, mkdirs } from '../support/zookeeper.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { haproxyPids } from '../support/chaos.js';

const BASE = '/lighthouse/services';

/**
 * The writer is SIGKILLed while HAProxy is down (a listener port taken), so
 * `<config_file>.down` stays behind; the operator then starts HAProxy by
 * hand from the writer's file. `lighthouse status` must not say HAProxy is
 * down while HAProxy answers on its admin socket.
 */
let zk: ZookeeperCluster;
let dir: TempDir;
let writer: DaemonProcess | undefined;
let blocker: Server | undefined;
let webPort: number;

const run = (...paths: string[]) => join(dir.path, 'run', ...paths);

function tryListen(port: number): Promise<Server | undefined> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

before(async () => {
  zk = await ZookeeperCluster.start();
  const admin = await connectClient(zk.connectString);
  await mkdirs(admin, `${BASE}/web`);
  admin.close();
  dir = await tempDir();
  [webPort] = await freePorts(1);
  await writeConfig(dir.path, {
    'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
    'balancers/haproxy.yaml': haproxyYaml(run()),
    'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
  });
  await mkdir(run(), { recursive: true });
});

after(async () => {
  await writer?.stop();
  blocker?.close();
  for (const pid of await haproxyPids(dir.path)) process.kill(pid, 'SIGKILL');
  await zk?.stop();
  await dir?.remove();
});

test('a down marker left by a writer SIGKILLed during an outage: status believes the admin socket once HAProxy answers', async () => {
  writer = startDaemon('writer', dir.path, join(dir.path, 'writer.log'));
  await waitFor(async () => (await haproxyPids(dir.path)).length > 0 && (await collectStatus(dir.path, coreRegistries(), 5_000)).problems.length === 0, 'the writer to start HAProxy', 30_000);

  // HAProxy killed, its port taken before the writer's restart: the writer marks it down.
  for (let round = 0; round < 10 && !blocker; round += 1) {
    for (const pid of await haproxyPids(dir.path)) process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 2_000;
    while (!blocker && Date.now() < deadline) blocker = await tryListen(webPort);
  }
  assert.ok(blocker, 'took the port before the writer restarted HAProxy');
  await waitFor(() => access(run('haproxy.cfg.down')).then(() => true, () => false), 'the down marker', 30_000);
  writer.signal('SIGKILL');
  await writer.exited;
  writer = undefined;

  // The operator frees the port and starts HAProxy from the writer's file.
  await new Promise<void>((resolve) => blocker!.close(() => resolve()));
  blocker = undefined;
  await promisify(execFile)('haproxy', ['-D', '-f', run('haproxy.cfg'), '-p', run('haproxy.pid')]);
  await waitFor(async () => (await haproxyPids(dir.path)).length > 0, 'HAProxy started by hand');

  const report = await waitFor(async () => {
    const status = await collectStatus(dir.path, coreRegistries(), 5_000);
    return status.problems.some((problem) => problem.includes('does not answer')) ? undefined : status;
  }, 'HAProxy to answer on its admin socket', 20_000);
  assert.deepEqual(report.problems, [], `status while HAProxy answers:\n${formatStatus(report)}`);
});
