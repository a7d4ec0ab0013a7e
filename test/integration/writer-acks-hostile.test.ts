import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { FleetReport } from '../../src/cli/fleet-view.js';
import { OPEN_ACL, type ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { BUILT_CLI, runCli } from '../support/cli.js';
import { haproxyYaml, writeConfig } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient, writeOriginalNode } from '../support/zookeeper.js';

/**
 * Records in the acks folder that this Lighthouse cannot read (a writer of
 * a newer format, or something that is not a writer's record): `fleet` and
 * `drain --wait` must name them, and `drain --wait` must not count them as
 * acknowledged — a newer writer is a live HAProxy it cannot vouch for.
 */

const BASE = '/lighthouse/services';
const ACKS = '/lighthouse/writer-acks';
const HOST = 'app.test';

describe('writer acknowledgements: records this Lighthouse cannot read (real ZooKeeper)', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let app: HttpBackend;
  let other: HttpBackend;
  let writerDir: string;
  let writerRun: string;
  let writerId: string;
  let writer: DaemonProcess | undefined;
  let reporterDir: string;
  let reporter: DaemonProcess | undefined;

  const logs = async () =>
    (await Promise.all(['writer.log', 'reporter.log'].map(async (file) => `--- ${file}\n${(await readFile(join(dir.path, file), 'utf8').catch(() => '')).slice(-4_000)}`))).join('\n');

  before(async () => {
    assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-acks-hostile-');
    app = await startHttpBackend('app');
    other = await startHttpBackend('other');
    const [port] = await freePorts(1);
    const zkYaml = (extra = '') => `hosts: [${zk.hosts.map((host) => `"${host}"`).join(', ')}]\npath: ${BASE}\nsession_timeout_ms: 10000\n${extra}`;
    writerDir = join(dir.path, 'writer');
    writerRun = join(dir.path, 'run');
    const state = join(dir.path, 'state');
    await mkdir(writerRun, { recursive: true });
    await writeConfig(writerDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zkYaml(),
      'balancers/haproxy.yaml': haproxyYaml(writerRun),
      'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${port}\n`,
    });
    writerId = `${hostname()}:${resolve(state)}`;
    reporterDir = join(dir.path, 'reporter');
    await writeConfig(reporterDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zkYaml(`advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/web.yaml': `ports: [${app.port}]\ndiscovery: zookeeper\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`,
    });
    await writeOriginalNode(admin, BASE, 'web', { host: 'other.test', ip: '127.0.0.1', port: other.port });
    writer = startDaemon('writer', writerDir, join(dir.path, 'writer.log'), ['--state-dir', state]);
    reporter = startDaemon('reporter', reporterDir, join(dir.path, 'reporter.log'));
    await waitFor(async () => {
      const report = JSON.parse((await runCli('fleet', writerDir, '--json', '--cluster', 'web')).stdout) as FleetReport;
      return report.clusters.find((cluster) => cluster.name === 'web')?.writers[0]?.members === 2;
    }, 'the writer to acknowledge both members', 30_000).catch(async (error: unknown) => assert.fail(`${String(error)}\n${await logs()}`));
  });

  after(async () => {
    await reporter?.stop();
    await writer?.stop();
    if (writerRun) await killHaproxy(join(writerRun, 'haproxy.pid'));
    admin?.close();
    await app?.close();
    await other?.close();
    await zk?.stop();
    await dir?.remove();
  });

  test('drain --wait does not count a newer-format record (a newer writer) or garbage as acknowledged, and names both', async () => {
    const newer = `${ACKS}/web-9_0badc0de`;
    const garbage = `${ACKS}/junk`;
    await admin.create(newer, Buffer.from(JSON.stringify({ format: 2, writer: 'web-9:/var/lib/lighthouse', clusters: { web: { applied: 'x' } } })), OPEN_ACL, false);
    await admin.create(garbage, Buffer.from('\u0000\u0001 not json'), OPEN_ACL, false);
    try {
      const fleet = await runCli('fleet', writerDir, '--cluster', 'web');
      assert.ok(fleet.stdout.includes(newer) && fleet.stdout.includes(garbage), fleet.stdout);
      const drained = await runCli('drain', reporterDir, 'web', '--wait', '--timeout', '6');
      assert.equal(drained.code, 1, `drain --wait succeeded although a record it cannot read is in ${ACKS}:\n${drained.stdout}${drained.stderr}`);
      assert.match(drained.stderr, /LH_ACK_TIMEOUT/);
      assert.ok(drained.stderr.includes(newer) && drained.stderr.includes(garbage), drained.stderr);
      assert.match(drained.stderr, /format 2/);
      // The writer it can read did acknowledge, and is not named as missing.
      assert.ok(!drained.stderr.includes(writerId), drained.stderr);
      await runCli('undrain', reporterDir, 'web', '--wait', '--timeout', '6');
      // Removed, the wait succeeds: the operator's way out is the znode the message names.
      await admin.remove(newer, -1);
      await admin.remove(garbage, -1);
      const again = await runCli('drain', reporterDir, 'web', '--wait', '--timeout', '30');
      assert.equal(again.code, 0, `${again.stdout}${again.stderr}\n${await logs()}`);
      assert.ok(again.stdout.includes(writerId), again.stdout);
    } finally {
      await admin.remove(newer, -1).catch(() => undefined);
      await admin.remove(garbage, -1).catch(() => undefined);
    }
  });
});
