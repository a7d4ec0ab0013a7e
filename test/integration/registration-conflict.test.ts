import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import type { Etcd3 } from 'etcd3';
import { EtcdServer } from '../support/etcd.js';

/**
 * #11.6: two reporters with the same config (so the same host name: this is
 * also two machines with one name) claim the same port. They took the znode
 * from each other about once a second each, forever. Now one of them yields
 * after a few takeovers, says so naming both sessions, and takes the node
 * again only once the other's is gone.
 */

const BASE = '/lighthouse/conflict';
const HOST = 'twin.test';

interface LogLine {
  msg: string;
  code?: string;
  session?: string;
  holderSession?: string;
}

describe('two reporters registering the same host:port in ZooKeeper', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let web: ToggleService;
  const reporters: DaemonProcess[] = [];

  const znode = () => `${BASE}/web/${HOST}:${web.port}`;
  const logFile = (index: number) => join(dir.path, `reporter-${index}.log`);
  const lines = async (index: number): Promise<LogLine[]> =>
    (await readFile(logFile(index), 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-conflict-');
    web = await startToggleService(await freePort());
    const files = {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/web.yaml': `discovery: zookeeper\nport: ${web.port}\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`,
    };
    await writeConfig(join(dir.path, 'a'), files);
    await writeConfig(join(dir.path, 'b'), files);
  });

  after(async () => {
    for (const reporter of reporters) await reporter.stop();
    await admin?.close();
    await zk?.stop();
    await web?.close();
    await dir?.remove();
  });

  test('one yields after a few takeovers, logs both sessions, writes stop; it takes over when the other stops', { timeout: 180_000 }, async (t) => {
    reporters.push(startDaemon('reporter', join(dir.path, 'a'), logFile(0)), startDaemon('reporter', join(dir.path, 'b'), logFile(1)));
    try {
      await waitFor(() => admin.exists(znode()), 'the node registered', 30_000);
      // Long enough for the fight to start and (with the fix) be detected.
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      // Each takeover is a multi (delete + create): a new czxid. Count them over a window.
      const created = new Set<string>();
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        const stat = await admin.exists(znode());
        assert.ok(stat, 'the node is always there: one of them holds it');
        created.add(stat.czxid.toString());
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(created.size, 1, `the node was re-created ${created.size - 1} times in 10 s after detection`);

      const conflicts = [...(await lines(0)), ...(await lines(1))].filter((line) => line.code === 'LH_REGISTRATION_CONFLICT');
      assert.equal(conflicts.length, 1, `one conflict error: ${conflicts.map((line) => line.msg).join(' | ')}`);
      const [conflict] = conflicts;
      assert.ok(conflict?.session && conflict.holderSession && conflict.session !== conflict.holderSession);
      assert.match(conflict.msg, new RegExp(`ours is session ${conflict.session} \\(${HOST} 127\\.0\\.0\\.1\\), the other is session ${conflict.holderSession} \\(${HOST} 127\\.0\\.0\\.1\\)`));
      const holderSession = (await admin.exists(znode()))!.ephemeralOwner.toString('hex');
      assert.equal(holderSession, conflict.holderSession, 'the other one holds the node');

      // The holder stops (deregistering): the one that yielded registers again.
      const yielded = (await lines(0)).some((line) => line.code === 'LH_REGISTRATION_CONFLICT') ? 0 : 1;
      assert.equal(await reporters[1 - yielded]!.stop(20_000), 0);
      const owner = await waitFor(async () => (await admin.exists(znode()))?.ephemeralOwner.toString('hex'), 'the node registered by the one that yielded', 20_000);
      assert.equal(owner, conflict.session);
    } catch (error) {
      t.diagnostic((await readFile(logFile(0), 'utf8').catch(() => '')).split('\n').slice(-30).join('\n'));
      throw error;
    }
  });
});

describe('two reporters registering the same host:port in etcd', () => {
  const PREFIX = '/lighthouse/conflict-etcd';
  let etcd: EtcdServer;
  let admin: Etcd3;
  let dir: TempDir;
  let web: ToggleService;
  const reporters: DaemonProcess[] = [];

  const key = () => `${PREFIX}/web/${HOST}:${web.port}`;
  const logFile = (index: number) => join(dir.path, `reporter-${index}.log`);
  const lines = async (index: number): Promise<LogLine[]> =>
    (await readFile(logFile(index), 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  const current = async () => (await admin.get(key()).exec()).kvs[0];

  before(async () => {
    etcd = await EtcdServer.start();
    admin = etcd.client();
    dir = await tempDir('lighthouse-conflict-etcd-');
    web = await startToggleService(await freePort());
    const files = {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/etcd.yaml': `endpoints: ["${etcd.endpoint}"]\nprefix: ${PREFIX}\nlease_ttl: 3\nadvertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`,
      'services/web.yaml': `discovery: etcd\nport: ${web.port}\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`,
    };
    await writeConfig(join(dir.path, 'a'), files);
    await writeConfig(join(dir.path, 'b'), files);
  });

  after(async () => {
    for (const reporter of reporters) await reporter.stop();
    admin?.close();
    await etcd?.stop();
    await web?.close();
    await dir?.remove();
  });

  test('one yields after a few takeovers, logs both leases, writes stop; it takes over when the other stops', { timeout: 180_000 }, async (t) => {
    reporters.push(startDaemon('reporter', join(dir.path, 'a'), logFile(0)), startDaemon('reporter', join(dir.path, 'b'), logFile(1)));
    try {
      await waitFor(current, 'the key registered', 30_000);
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      const before = await current();
      assert.ok(before);
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const later = await current();
      assert.ok(later, 'the key is there: one of them holds it');
      const writes = Number(BigInt(later.mod_revision) - BigInt(before.mod_revision));
      assert.equal(writes, 0, `the key was written ${writes} revisions later in 10 s after detection`);

      const conflicts = [...(await lines(0)), ...(await lines(1))].filter((line) => line.code === 'LH_REGISTRATION_CONFLICT');
      assert.equal(conflicts.length, 1, `one conflict error: ${conflicts.map((line) => line.msg).join(' | ')}`);
      const [conflict] = conflicts;
      assert.ok(conflict?.session && conflict.holderSession && conflict.session !== conflict.holderSession);
      assert.equal(later.lease, conflict.holderSession, 'the other one holds the key');

      const yielded = (await lines(0)).some((line) => line.code === 'LH_REGISTRATION_CONFLICT') ? 0 : 1;
      assert.equal(await reporters[1 - yielded]!.stop(20_000), 0);
      const lease = await waitFor(async () => {
        const kv = await current();
        return kv && kv.lease !== conflict.holderSession ? kv.lease : undefined;
      }, 'the key registered by the one that yielded', 20_000);
      assert.equal(lease, conflict.session);
    } catch (error) {
      t.diagnostic((await readFile(logFile(0), 'utf8').catch(() => '')).split('\n').slice(-30).join('\n'));
      throw error;
    }
  });
});
