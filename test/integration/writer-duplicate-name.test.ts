import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writer } from '../../src/writer/writer.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { coreRegistries } from '../support/core-registries.js';
import { ZookeeperCluster, connectClient, writeOriginalNode, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackends, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';

/** Issue #11 B: a new file claiming the name of a running cluster must not take it over. */

const BASE = '/lighthouse/services';

describe('writer: a new file claiming a running cluster\'s name', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let backends: HttpBackend[];
  let writer: Writer | undefined;
  let webPort: number;
  let intruderPort: number;
  let otherPort: number;

  const logText = () => readFile(join(dir.path, 'writer.log'), 'utf8').catch(() => '');
  const configText = () => readFile(join(dir.path, 'run', 'haproxy.cfg'), 'utf8');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir();
    backends = await startHttpBackends('web', 1);
    [webPort, intruderPort, otherPort] = await freePorts(3);
    await mkdirs(client, BASE);
    await writeOriginalNode(client, BASE, 'web', { host: 'web1.test', ip: '127.0.0.1', port: backends[0]!.port, metadataJson: '{}', peer: null });
    await writeOriginalNode(client, BASE, 'other', { host: 'other1.test', ip: '127.0.0.1', port: backends[0]!.port, metadataJson: '{}', peer: null });
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
      'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
      'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
    });
    await mkdir(join(dir.path, 'run'), { recursive: true });
    const log = createDaemonLogger('writer', { level: 'warn', format: 'json', destination: join(dir.path, 'writer.log') });
    writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log });
    await writer.start();
    await waitFor(async () => (await httpGet(webPort).catch(() => undefined))?.status === 200, 'web to serve');
  });

  after(async () => {
    await writer?.stop();
    await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
    client?.close();
    await zk?.stop();
    await Promise.all((backends ?? []).map((backend) => backend.close()));
    await dir?.remove();
  });

  test('the running listener stays; the newcomer is logged as ignored with both files named', async () => {
    const webFile = join(dir.path, 'clusters', 'web.yaml');
    const intruderFile = join(dir.path, 'clusters', 'a.yaml');
    // a.yaml sorts before web.yaml: path order alone would hand it the name.
    await writeFile(intruderFile, `name: web\ndiscovery: zookeeper\nhaproxy:\n  port: ${intruderPort}\n`);
    await waitFor(async () => (await logText()).includes(`${intruderFile}: name: cluster \\"web\\" is already defined by ${webFile} (this file is ignored; ${webFile} stays in force)`), 'the newcomer to be logged as ignored');
    // A later structural change is applied, so anything a.yaml caused has reached HAProxy by now.
    await writeFile(join(dir.path, 'clusters', 'other.yaml'), `discovery: zookeeper\nhaproxy:\n  port: ${otherPort}\n`);
    await waitFor(async () => (await httpGet(otherPort).catch(() => undefined))?.status === 200, 'the later change to be applied');
    assert.equal((await httpGet(webPort)).status, 200, 'web still serves on its port');
    assert.ok(!(await configText()).includes(`:${intruderPort}`), 'no listener on the newcomer\'s port');
    assert.ok(!(await logText()).includes(`${webFile}: name:`), 'the file in force is not blamed');
  });
});
