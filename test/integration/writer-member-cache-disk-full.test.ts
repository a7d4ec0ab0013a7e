import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writer } from '../../src/writer/writer.js';
import type { DaemonLogger } from '../../src/lib/logger.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { coreRegistries } from '../support/core-registries.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { freePorts } from '../support/ports.js';
import { MOUNT_SKIP, smallFs, type SmallFs } from '../support/small-fs.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient, mkdirs, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';

/**
 * The writer's member cache (last known members, for restarts) on a full
 * disk: each change between failing and recovered is logged once, every
 * message names the file, and no temp file is left behind.
 */

const BASE = '/lighthouse/services';
let zk: ZookeeperCluster;
let client: ZkClient;
let dir: TempDir;
let fs: SmallFs;
let writer: Writer;
const lines: { level: number; msg: string }[] = [];

before(async () => {
  if (MOUNT_SKIP) return;
  zk = await ZookeeperCluster.start();
  client = await connectClient(zk.connectString);
  dir = await tempDir();
  fs = await smallFs(256);
  const [webPort] = (await freePorts(1)) as [number];
  await mkdirs(client, BASE);
  await writeConfig(dir.path, {
    'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
    'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
    'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
  });
  await mkdir(join(dir.path, 'run'), { recursive: true });
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  const log: DaemonLogger = { logger, reconfigure: () => undefined };
  writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log, memberCacheFile: join(fs.path, 'writer-members.json') });
  await writer.start();
});

after(async () => {
  if (MOUNT_SKIP) return;
  await writer?.stop();
  await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
  client?.close();
  await zk?.stop();
  await fs?.remove();
  await dir?.remove();
});

let port = 20_000;
/** One more member in ZooKeeper, and the writer's member cache written (or failed) after it. */
async function addMember(): Promise<void> {
  port += 1;
  await writeOriginalNode(client, BASE, 'web', { host: `n${port}.test`, ip: '127.0.0.1', port, metadataJson: '{}', peer: null });
  await waitFor(() => writer.state.get('web').members.some((member) => member.port === port), 'the writer to see the new member');
  // The cache is written at most once a second after a change.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
}

const failing = () => lines.filter((line) => line.level === 40 && /cannot keep the last known members/.test(line.msg));
const recovered = () => lines.filter((line) => /last known members are kept for restarts again/.test(line.msg));

test('a failing member cache is warned about once per change of state, naming the file, with no temp files left', { skip: MOUNT_SKIP }, async () => {
  await addMember();
  assert.match(await readFile(join(fs.path, 'writer-members.json'), 'utf8'), /n20001\.test/);

  await fs.fill();
  await addMember();
  await addMember();
  assert.equal(failing().length, 1, 'one warning while it keeps failing');
  assert.match(failing()[0]!.msg, /writer-members\.json: cannot write: ENOSPC/);

  await fs.free();
  await addMember();
  assert.equal(recovered().length, 1, 'the recovery is logged');
  assert.match(await readFile(join(fs.path, 'writer-members.json'), 'utf8'), /n20004\.test/);

  await fs.fill();
  await addMember();
  assert.equal(failing().length, 2, 'failing again is warned about again');
  await fs.free();
  assert.deepEqual((await readdir(fs.path)).filter((name) => name.endsWith('.tmp')), [], 'no temp file left');
});
