import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient, mkdirs, writeOriginalNode } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { adminSocket, type CliSocket } from '../../src/balancer/haproxy/runtime-api.js';
import { startHttpBackend, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';

const BASE = '/lighthouse/services';
const SERVERS = 1000;
const READERS = 20;
const READS_EACH = 20;

/** One counter of the writer's /metrics, e.g. lighthouse_haproxy_runtime_commands_total. */
async function metric(port: number, name: string): Promise<number> {
  const { body } = await httpGet(port, '/metrics', {}, 10_000);
  const line = body.split('\n').find((text) => text.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

/**
 * #11.9: `/api/state` ran `show stat` on the writer's own admin connection,
 * so dashboard readers queued in front of membership changes (1,000 servers,
 * a burst of 200 readers: a change 5.3 s late). Under a burst of readers a
 * change must still reach HAProxy while they run, and they must cost a
 * bounded number of runtime commands, not one `show stat` each.
 */
describe('dashboard readers do not hold up the writer', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let backend: HttpBackend;
  let writer: DaemonProcess;
  let admin: CliSocket;
  let metricsPort: number;
  const runDir = () => join(dir.path, 'run');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    await mkdirs(client, `${BASE}/web`);
    dir = await tempDir();
    await mkdir(runDir());
    backend = await startHttpBackend('web');
    const [webPort, port] = await freePorts(2);
    metricsPort = port!;
    for (let start = 0; start < SERVERS; start += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, index) => writeOriginalNode(client, BASE, 'web', { host: `n${start + index}.test`, ip: '127.0.0.1', port: backend.port })));
    }
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
      'balancers/haproxy.yaml': haproxyYaml(runDir()),
      'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
      'logging.yaml': 'level: info\nformat: json\n',
    });
    writer = startDaemon('writer', dir.path, join(dir.path, 'writer.log'), ['--metrics-port', String(metricsPort)]);
    admin = adminSocket(join(runDir(), 'haproxy.sock'));
  });

  after(async () => {
    admin?.close();
    await writer?.stop();
    await killHaproxy(join(runDir(), 'haproxy.pid'));
    client?.close();
    await zk?.stop();
    await backend?.close();
    await dir?.remove();
  });

  const inHaproxy = async (server: string): Promise<boolean> => (await admin.command('show servers state web').catch(() => '')).includes(` ${server} `);

  test('a change reaches HAProxy during a burst of /api/state readers, which cost a bounded number of show stat', async (t) => {
    await waitFor(() => inHaproxy(`n${SERVERS - 1}.test:${backend.port}`), `HAProxy to have the ${SERVERS} servers`, 90_000, 200);
    await waitFor(async () => (await httpGet(metricsPort, '/healthz')).status === 200, 'the writer to be in sync', 30_000);
    const commandsBefore = await metric(metricsPort, 'lighthouse_haproxy_runtime_commands_total');
    assert.ok(Number.isFinite(commandsBefore), 'the writer exports its runtime command count');

    let reads = 0;
    let failures = 0;
    let running = true;
    const readers = Array.from({ length: READERS }, async () => {
      for (let index = 0; index < READS_EACH; index += 1) {
        const answer = await httpGet(metricsPort, '/api/state', {}, 60_000).catch(() => ({ status: 0, body: '' }));
        if (answer.status === 200) reads += 1;
        else failures += 1;
      }
    });
    const done = Promise.all(readers).then(() => {
      running = false;
    });

    // The change goes in once the readers are in full swing.
    await waitFor(() => reads >= 2 * READERS, 'the readers to be under way', 60_000, 5);
    const added = `added.test:${backend.port}`;
    await writeOriginalNode(client, BASE, 'web', { host: 'added.test', ip: '127.0.0.1', port: backend.port });
    await waitFor(() => inHaproxy(added), 'the new member to reach HAProxy', 60_000, 20);
    const arrivedWhileReading = running;
    const readsBeforeArrival = reads;
    await done;

    assert.equal(failures, 0, `${failures} /api/state requests failed`);
    assert.equal(reads, READERS * READS_EACH);
    assert.ok(arrivedWhileReading, `the change reached HAProxy only after the readers were done (${readsBeforeArrival} reads before it)`);
    // One `show stat` per reader would be READERS * READS_EACH commands; the change itself needs a few.
    const commandsDuring = (await metric(metricsPort, 'lighthouse_haproxy_runtime_commands_total')) - commandsBefore;
    assert.ok(commandsDuring < (READERS * READS_EACH) / 8, `${commandsDuring} runtime commands for ${READERS * READS_EACH} reads and one change`);
    const statReads = await metric(metricsPort, 'lighthouse_haproxy_stat_reads_total');
    assert.ok(statReads >= 1 && statReads <= commandsDuring + 1, `${statReads} show stat in total`);
    t.diagnostic(`${reads} reads, ${readsBeforeArrival} before the change arrived; ${commandsDuring} runtime commands during them; ${statReads} show stat in total`);
  });
});
