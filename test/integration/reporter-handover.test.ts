import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import { EtcdServer } from '../support/etcd.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { runCli } from '../support/cli.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

/**
 * #19.4: a reporter registered in ZooKeeper and etcd whose discovery files
 * are edited to ensembles where nothing listens. The old sessions must keep
 * the registrations until a new session holds them, however long that takes;
 * the stall is logged once per service, naming the discovery file.
 */

const BASE = '/lighthouse/handover';
const PREFIX = '/lighthouse/handover-etcd';
const HOST = 'handover.test';

describe('reporter: a discovery file edited to an unreachable ensemble', () => {
  let zk: ZookeeperCluster;
  let zkAdmin: ZkClient;
  let etcd: EtcdServer;
  let etcdAdmin: Etcd3;
  let dir: TempDir;
  let web: ToggleService;
  let api: ToggleService;
  let deadPorts: number[];
  let reporter: DaemonProcess | undefined;

  const znode = () => `${BASE}/web/${HOST}:${web.port}`;
  const etcdKey = () => `${PREFIX}/api/${HOST}:${api.port}`;
  const zkOwner = async () => (await zkAdmin.exists(znode()))?.ephemeralOwner.toString('hex');
  const etcdLease = async () => {
    const [kv] = (await etcdAdmin.get(etcdKey()).exec()).kvs;
    return kv?.lease;
  };
  const advertise = `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`;
  const zkYaml = (hosts: string[]) => zookeeperYaml(hosts, BASE, advertise);
  const etcdYaml = (endpoint: string) => `endpoints: ["${endpoint}"]\nprefix: ${PREFIX}\nlease_ttl: 3\noperation_timeout_ms: 1000\n${advertise}`;
  const log = () => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');
  const messages = async () =>
    (await log())
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; code?: string; level: string });

  /** Samples both registrations every 50 ms; any sample without them is recorded. */
  function watchRegistrations(): { gaps: string[]; stop: () => Promise<void> } {
    const gaps: string[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        if ((await zkOwner()) === undefined) gaps.push(`zookeeper ${znode()} missing at ${new Date().toISOString()}`);
        if ((await etcdLease()) === undefined) gaps.push(`etcd ${etcdKey()} missing at ${new Date().toISOString()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    return {
      gaps,
      stop: async () => {
        running = false;
        await loop;
      },
    };
  }

  before(async () => {
    zk = await ZookeeperCluster.start();
    zkAdmin = await connectClient(zk.connectString);
    etcd = await EtcdServer.start();
    etcdAdmin = etcd.client();
    dir = await tempDir('lighthouse-handover-');
    const ports = await freePorts(5);
    web = await startToggleService(ports[0]!);
    api = await startToggleService(ports[1]!);
    deadPorts = ports.slice(2);
    const checks = 'checks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n';
    await writeConfig(dir.path, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zkYaml(zk.hosts),
      'discovery/etcd.yaml': etcdYaml(etcd.endpoint),
      'services/web.yaml': `discovery: zookeeper\nport: ${web.port}\n${checks}`,
      'services/api.yaml': `discovery: etcd\nport: ${api.port}\n${checks}`,
    });
  });

  after(async () => {
    await reporter?.stop();
    await zkAdmin?.close();
    etcdAdmin?.close();
    await zk?.stop();
    await etcd?.stop();
    await web?.close();
    await api?.close();
    await dir?.remove();
  });

  test('the old sessions keep the registrations while stalled, hand over when the file is edited back, and SIGTERM still deregisters', { timeout: 240_000 }, async (t) => {
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
    try {
      await waitFor(zkOwner, 'web registered in ZooKeeper', 30_000);
      await waitFor(etcdLease, 'api registered in etcd', 30_000);
      const firstOwner = await zkOwner();
      const firstLease = await etcdLease();
      const sampler = watchRegistrations();

      // Nothing listens on these ports.
      await writeConfig(dir.path, {
        'discovery/zookeeper.yaml': zkYaml([`127.0.0.1:${deadPorts[0]}`]),
        'discovery/etcd.yaml': etcdYaml(`http://127.0.0.1:${deadPorts[1]}`),
      });
      await waitFor(async () => (await messages()).filter((line) => /handing over/.test(line.msg)).length >= 2, 'both services to start handing over', 20_000);
      // Well past the old deadline (the registrations vanished ~7 s after the edit): still the old sessions'.
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      assert.deepEqual(sampler.gaps, [], 'no sample without the registrations');
      const stalls = async () => (await messages()).filter((line) => line.code === 'LH_HANDOVER_STALLED');
      await waitFor(async () => (await stalls()).length >= 2, 'the stall of both services to be logged', 60_000);
      assert.equal(await zkOwner(), firstOwner, 'ZooKeeper: still the first session');
      assert.equal(await etcdLease(), firstLease, 'etcd: still the first lease');
      const stallLines = await stalls();
      assert.equal(stallLines.length, 2, `one stall line per service: ${stallLines.map((line) => line.msg).join(' | ')}`);
      assert.ok(stallLines.some((line) => /discovery\/zookeeper\.yaml: service "web" cannot move to discovery "zookeeper"/.test(line.msg)));
      assert.ok(stallLines.some((line) => /discovery\/etcd\.yaml: service "api" cannot move to discovery "etcd"/.test(line.msg)));

      // A second edit while stalled, to another dead port: the old sessions still hold on.
      await writeConfig(dir.path, { 'discovery/zookeeper.yaml': zkYaml([`127.0.0.1:${deadPorts[2]}`]) });
      await waitFor(async () => (await messages()).some((line) => /handover to .*zookeeper\.yaml is abandoned/.test(line.msg)), 'the pending handover to be abandoned', 20_000);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.equal(await zkOwner(), firstOwner);

      // Edited back to the reachable servers: new sessions take the registrations over without a gap.
      await writeConfig(dir.path, { 'discovery/zookeeper.yaml': zkYaml(zk.hosts), 'discovery/etcd.yaml': etcdYaml(etcd.endpoint) });
      await waitFor(async () => {
        const owner = await zkOwner();
        return owner !== undefined && owner !== firstOwner;
      }, 'a new ZooKeeper session to hold web', 30_000);
      await waitFor(async () => {
        const lease = await etcdLease();
        return lease !== undefined && lease !== firstLease;
      }, 'a new etcd lease to hold api', 30_000);
      await waitFor(async () => (await messages()).filter((line) => /handover to .* finished/.test(line.msg)).length >= 2, 'both handovers to finish', 30_000);
      await sampler.stop();
      assert.deepEqual(sampler.gaps, [], 'make before break: no sample without the registrations');

      // Stalled again, then SIGTERM: the daemon exits cleanly and removes what the old sessions hold.
      await writeConfig(dir.path, {
        'discovery/zookeeper.yaml': zkYaml([`127.0.0.1:${deadPorts[0]}`]),
        'discovery/etcd.yaml': etcdYaml(`http://127.0.0.1:${deadPorts[1]}`),
      });
      await waitFor(async () => (await stalls()).length >= 4, 'the second stall of both services', 60_000);
      // An operator drain reaches the runner whose registration is in force, not only the pending one.
      const drain = await runCli('drain', dir.path, 'web', '--port', String(web.port), '--reason', 'while stalled');
      assert.equal(drain.code, 0, drain.stderr);
      await waitFor(async () => (await zkOwner()) === undefined, 'the drained port deregistered by the old session', 20_000);
      // A service removed mid-handover: the old runner, which holds the registration, deregisters it.
      await rm(join(dir.path, 'services', 'api.yaml'));
      await waitFor(async () => (await etcdLease()) === undefined, 'api deregistered with its service file', 20_000);

      // Stalled, then SIGTERM: a clean exit (the pending sessions cannot be reached).
      const started = Date.now();
      assert.equal(await reporter.stop(20_000), 0, 'a clean exit (not killed)');
      t.diagnostic(`SIGTERM to exit while stalled: ${Date.now() - started} ms`);
    } catch (error) {
      t.diagnostic((await log()).split('\n').slice(-80).join('\n'));
      throw error;
    }
  });
});
