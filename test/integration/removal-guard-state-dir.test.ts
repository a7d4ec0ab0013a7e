import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writer } from '../../src/writer/writer.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { collectStatus, formatStatus } from '../../src/cli/status-command.js';
import { releaseHold } from '../../src/cli/release-hold-command.js';
import { coreRegistries } from '../support/core-registries.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import { ZookeeperCluster, connectClient, writeOriginalNode, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';

const BASE = '/lighthouse/services';

/**
 * The shipped systemd unit runs the writer with --state-dir on a read-only
 * /etc (ProtectSystem=strict). Its holds must be where it can write them:
 * otherwise status shows no hold and release-hold cannot end one. The
 * config dir's `.state` is a plain file here, so nothing can be written
 * under it, even by root.
 */
let zk: ZookeeperCluster;
let admin: ZkClient;
let registrations: ZkClient | undefined;
let dir: TempDir;
let backends: HttpBackend[];
let writer: Writer;
let stateDir: string;

const serving = async (): Promise<number> => {
  const rows = await (writer.balancer('haproxy') as HaproxyBalancer).control.serverStats();
  return rows.filter((row) => row.proxy === 'web' && row.server !== 'BACKEND' && row.server !== 'FRONTEND' && !row.status.startsWith('MAINT')).length;
};

before(async () => {
  zk = await ZookeeperCluster.start();
  admin = await connectClient(zk.connectString);
  dir = await tempDir();
  backends = await startHttpBackends('web', 3);
  const [webPort] = await freePorts(1);
  await mkdirs(admin, `${BASE}/web`);
  await writeConfig(dir.path, {
    'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
    'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
    'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
  });
  await mkdir(join(dir.path, 'run'), { recursive: true });
  await writeFile(join(dir.path, '.state'), 'not a folder: the config dir is read-only for the writer\n');
  stateDir = join(dir.path, 'var-lib-lighthouse');
  const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: join(dir.path, 'writer.log') });
  writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log, memberCacheFile: join(stateDir, 'writer-members.json'), stateDir });
  await writer.start();
});

after(async () => {
  await writer?.stop();
  await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
  registrations?.close();
  admin?.close();
  await zk?.stop();
  await Promise.all((backends ?? []).map((backend) => backend.close()));
  await dir?.remove();
});

test('a writer with --state-dir and a read-only config dir: status shows its hold and release-hold ends it', async () => {
  registrations = await connectClient(zk.connectString);
  for (const backend of backends) await writeOriginalNode(registrations, BASE, 'web', { host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, peer: null });
  await waitFor(async () => (await serving()) === 3, 'HAProxy to route the 3 members', 20_000);
  await waitFor(() => writer.state.get('web').listed === 3 && writer.state.get('web').hold === undefined, 'the writer to list all 3');
  registrations.close();
  registrations = undefined;
  await waitFor(() => writer.state.get('web').listed === 0, 'the writer to hear that ZooKeeper lists no members', 20_000);
  assert.equal(await serving(), 3, 'the guard keeps the 3 routed');

  const line = await waitFor(async () => (await readFile(join(dir.path, 'writer.log'), 'utf8')).split('\n').find((text) => text.includes('LH_REMOVAL_HELD')), 'the hold log line');
  assert.match(line, new RegExp(`lighthouse release-hold ${dir.path} web --state-dir ${stateDir}`), 'the log line gives a release command that finds the holds');
  const report = await waitFor(async () => {
    const status = await collectStatus(dir.path, coreRegistries(), 5_000, undefined, stateDir);
    return status.clusters[0]?.hold ? status : undefined;
  }, 'status --state-dir to show the hold', 10_000);
  assert.equal(report.clusters[0]?.hold?.held.length, 3);
  assert.match(formatStatus(report, { stateDir }), new RegExp(`release: lighthouse release-hold CONFIG_DIR web --state-dir ${stateDir}\\)`));
  const writeFailures = (await readFile(join(dir.path, 'writer.log'), 'utf8')).split('\n').filter((text) => text.includes('cannot write the holds file'));
  assert.deepEqual(writeFailures, [], 'the holds file is written');

  const outcome = await releaseHold(dir.path, 'web', 10_000, stateDir);
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  await waitFor(async () => (await serving()) === 0, 'HAProxy to empty the backend after the release', 20_000);
});
