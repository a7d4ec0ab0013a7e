import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { haproxyMasters, haproxyPids } from '../support/chaos.js';
import { backendsReached, startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

const BASE = '/lighthouse/churn';

/**
 * The writer SIGKILLed again and again while members and the cluster's
 * structure change (so some kills land mid config-file write or mid reload),
 * restarted at once each time. In the end the config file is one HAProxy
 * accepts, exactly one HAProxy runs, and it routes exactly the members
 * ZooKeeper lists.
 */
let zk: ZookeeperCluster;
let client: ZkClient;
let dir: TempDir;
let backends: HttpBackend[];
let webPort: number;
let writer: DaemonProcess | undefined;

const config = () => join(dir.path, 'config');
const run = () => join(dir.path, 'run');
const clusterFile = (round: number) => `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n  backend: ["timeout server ${10 + (round % 3)}s"]\n`;
const path = (backend: HttpBackend) => `${BASE}/web/${backend.id}.test:${backend.port}`;

before(async () => {
  zk = await ZookeeperCluster.start();
  client = await connectClient(zk.connectString);
  dir = await tempDir('lighthouse-churn-');
  backends = await startHttpBackends('web', 6);
  webPort = await freePort();
  await mkdir(run(), { recursive: true });
  await writeConfig(config(), {
    'logging.yaml': 'level: info\nformat: json\n',
    'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
    'balancers/haproxy.yaml': haproxyYaml(run()),
    'clusters/web.yaml': clusterFile(0),
  });
});

after(async () => {
  await writer?.stop();
  for (const pid of await haproxyPids(dir.path)) process.kill(pid, 'SIGKILL');
  client?.close();
  await zk?.stop();
  await Promise.all((backends ?? []).map((backend) => backend.close()));
  await dir?.remove();
});

test('writer SIGKILLed repeatedly during member and structure churn: config, HAProxy and ZooKeeper end consistent', { timeout: 300_000 }, async (t) => {
  const listed = new Set<HttpBackend>();
  const toggle = async (backend: HttpBackend): Promise<void> => {
    if (listed.has(backend)) {
      await client.remove(path(backend), -1);
      listed.delete(backend);
    } else {
      await writeOriginalNode(client, BASE, 'web', { host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, peer: null });
      listed.add(backend);
    }
  };
  for (const backend of backends.slice(0, 3)) await toggle(backend);
  const logs: string[] = [];
  try {
    for (let round = 0; round < 8; round += 1) {
      const log = join(dir.path, `writer-${round}.log`);
      logs.push(log);
      writer = startDaemon('writer', config(), log);
      await waitFor(async () => (await haproxyPids(dir.path)).length > 0, 'HAProxy to run', 60_000, 50);
      // Changes, then a kill after a different number of them each round.
      for (let change = 0; change < 3 + (round % 4); change += 1) {
        if (change === 1) await writeFile(join(config(), 'clusters', 'web.yaml'), clusterFile(round + 1));
        await toggle(backends[(round + change) % backends.length]!);
        await new Promise((resolve) => setTimeout(resolve, 15 * (round % 5)));
      }
      writer.signal('SIGKILL');
      await writer.exited;
      writer = undefined;
    }
    // One guard-friendly final set: at least half of the 6 listed.
    for (const backend of backends) if (!listed.has(backend) && listed.size < 4) await toggle(backend);
    const expected = new Set([...listed].map((backend) => backend.id));
    const final = join(dir.path, 'writer-final.log');
    logs.push(final);
    writer = startDaemon('writer', config(), final);
    await waitFor(async () => {
      const reached = await backendsReached(webPort, 40).catch(() => new Set<string>());
      return reached.size === expected.size && [...reached].every((id) => expected.has(id));
    }, `HAProxy to route exactly ${[...expected].join(', ')}`, 60_000, 200);
    assert.equal((await haproxyMasters(dir.path)).length, 1, 'exactly one HAProxy master');
    await promisify(execFile)('haproxy', ['-c', '-f', join(run(), 'haproxy.cfg')]);
    const leftovers = (await readdir(run())).filter((name) => name.endsWith('.tmp'));
    t.diagnostic(`temp files left by the kills: ${leftovers.length}`);
  } catch (error) {
    for (const log of logs.slice(-3)) t.diagnostic(`${log}:\n${readFileSync(log, 'utf8').slice(-3000)}`);
    throw error;
  }
});
