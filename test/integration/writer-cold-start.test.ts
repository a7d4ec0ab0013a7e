import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { Writer } from '../../src/writer/writer.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { zookeeperDiscovery } from '../../src/discovery/zookeeper/plugin.js';
import type { DiscoveryPlugin } from '../../src/discovery/plugin-types.js';
import type { MemberSet } from '../../src/discovery/types.js';
import { coreRegistries } from '../support/core-registries.js';
import { ZookeeperCluster, connectClient, writeOriginalNode, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';

/**
 * Issue 15, part 5 (cold start not slower than classic): the writer's first
 * sync waits until every cluster has reported once, so HAProxy starts with
 * every known server in its file and nothing is added over the runtime API
 * afterwards. On a loaded machine a big fleet's clusters report one after
 * another for longer than the fixed 2 s the writer used to wait (counted
 * from before the config directory was even read): it gave up half-way and
 * added the other ~5,000 of 10,000 servers one runtime command at a time.
 * Here the real ZooKeeper plugin's first reports are spread out (cluster i
 * reports i x 250 ms after its watch starts, 3 s for the last) against a
 * 1 s startup wait: the clusters keep reporting, so the writer keeps waiting.
 */

const BASE = '/lighthouse/services';
const CLUSTERS = 12;
const STEP_MS = 250;

/** The real ZooKeeper plugin, with cluster i's reports held until i x STEP_MS after its watch started (then in order). */
const slowZookeeper: DiscoveryPlugin<z.output<typeof zookeeperDiscovery.schema>> = {
  kind: 'slow',
  schema: zookeeperDiscovery.schema,
  create(config, helper) {
    const inner = zookeeperDiscovery.create(config, helper);
    const watch = inner.watch.bind(inner);
    inner.watch = (cluster, onMembers) => {
      const releaseAt = Date.now() + Number(/\d+$/.exec(cluster)?.[0] ?? 0) * STEP_MS;
      let closed = false;
      let queue = Promise.resolve();
      const inner = watch(cluster, (set: MemberSet) => {
        queue = queue.then(async () => {
          const wait = releaseAt - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          if (!closed) onMembers(set);
        });
      });
      return {
        close() {
          closed = true;
          inner.close();
        },
      };
    };
    return inner;
  },
};

describe('writer cold start: clusters that keep reporting are waited for', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let writer: Writer | undefined;
  const runDir = () => join(dir.path, 'run');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir();
    await mkdirs(client, BASE);
    const ports = await freePorts(CLUSTERS);
    const files: Record<string, string> = {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, 'plugin: slow'),
      'balancers/haproxy.yaml': haproxyYaml(runDir()),
    };
    for (let c = 0; c < CLUSTERS; c += 1) {
      for (let n = 0; n < 2; n += 1) await writeOriginalNode(client, BASE, `c${c}`, { host: `c${c}n${n}.test`, ip: '127.0.0.1', port: 20_000 + c * 10 + n, metadataJson: '{}', peer: null });
      files[`clusters/c${c}.yaml`] = `discovery: zookeeper\nhaproxy:\n  port: ${ports[c]}\n`;
    }
    await writeConfig(dir.path, files);
    await mkdir(runDir(), { recursive: true });
  });

  after(async () => {
    await writer?.stop();
    await killHaproxy(join(runDir(), 'haproxy.pid'));
    client?.close();
    await zk?.stop();
    await dir?.remove();
  });

  test('HAProxy starts with every server in its file; no runtime command adds one afterwards', async () => {
    const registries = coreRegistries();
    registries.discovery.register(slowZookeeper);
    const logFile = join(dir.path, 'writer.log');
    const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: logFile });
    writer = new Writer({ configDir: dir.path, registries, log, startupWaitMs: 1_000 });
    await writer.start();
    const servers = CLUSTERS * 2;
    await waitFor(async () => {
      if (!writer!.ready) return false;
      const text = await readFile(join(runDir(), 'haproxy.cfg'), 'utf8').catch(() => '');
      return (text.match(/^\s+server /gm) ?? []).length === servers;
    }, `HAProxy to run all ${servers} servers`, 30_000);
    const counters = writer.balancer('haproxy')?.stats?.()?.counters;
    assert.ok(counters, 'the HAProxy balancer reports its counters');
    assert.equal(counters.starts, 1, 'one start');
    assert.equal(counters.reloads, 0, 'no reload');
    assert.equal(counters.runtimeChanges, 0, 'no server added over the runtime API: the start had them all');
    assert.ok(!(await readFile(logFile, 'utf8')).includes('not every cluster reported its members in time'), 'the writer did not give up waiting');
  });
});

/**
 * While the gate waits, each cluster's first report asked whether every
 * cluster had reported by looking at all of them: 1,000 clusters cost
 * 1,000 x 1,000 state look-ups before HAProxy could start (30-120 ms of CPU
 * in profiles of the 10,000-server bench). The count is now kept as
 * clusters report; one full look at the end confirms it.
 */
describe('writer cold start: the gate counts reported clusters as they report', () => {
  const MANY = 300;
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let writer: Writer | undefined;
  const runDir = () => join(dir.path, 'run');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir();
    await mkdirs(client, BASE);
    const [metaPort] = await freePorts(1);
    const files: Record<string, string> = {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
      'balancers/haproxy.yaml': haproxyYaml(runDir(), `meta_clusters:\n  all:\n    port: ${metaPort}\n`),
    };
    for (let c = 0; c < MANY; c += 1) {
      await writeOriginalNode(client, BASE, `c${c}`, { host: `c${c}n0.test`, ip: '127.0.0.1', port: 20_000 + c, metadataJson: '{}', peer: null });
      files[`clusters/c${c}.yaml`] = `discovery: zookeeper\nmeta_cluster: all\nhaproxy:\n  acl: path_beg /c${c}/\n`;
    }
    await writeConfig(dir.path, files);
    await mkdir(runDir(), { recursive: true });
  });

  after(async () => {
    await writer?.stop();
    await killHaproxy(join(runDir(), 'haproxy.pid'));
    client?.close();
    await zk?.stop();
    await dir?.remove();
  });

  test(`${MANY} clusters: state look-ups until HAProxy runs grow with the clusters, not with their square`, async () => {
    const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: join(dir.path, 'writer.log') });
    writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log, startupWaitMs: 5_000 });
    const get = writer.state.get.bind(writer.state);
    let lookups = 0;
    writer.state.get = (name) => {
      lookups += 1;
      return get(name);
    };
    await writer.start();
    let atReady = 0;
    await waitFor(() => {
      if (!writer!.ready) return false;
      atReady = lookups;
      return true;
    }, 'the first sync', 60_000);
    const counters = writer.balancer('haproxy')?.stats?.()?.counters;
    assert.equal(counters?.starts, 1, 'one start');
    assert.equal(counters?.runtimeChanges, 0, 'every server was in the file HAProxy started with');
    // A handful per cluster (the report, the sync, the acknowledgement); counting over every watch per report: ~MANY x MANY.
    assert.ok(atReady < 20 * MANY, `${atReady} state look-ups for ${MANY} clusters`);
  });
});
