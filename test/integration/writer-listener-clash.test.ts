import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writer } from '../../src/writer/writer.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { coreRegistries } from '../support/core-registries.js';
import { ZookeeperCluster, connectClient, writeOriginalNode, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackends, backendsReached, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';

/**
 * Issue #11 C: a `bind` line in another cluster's frontend on web's port.
 * Unchecked, HAProxy binds the port twice (SO_REUSEPORT) and the kernel
 * sends part of web's traffic to the other cluster's servers.
 */

const BASE = '/lighthouse/services';

describe('writer: a bind line on a port another cluster listens on', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let webBackends: HttpBackend[];
  let otherBackends: HttpBackend[];
  let writer: Writer | undefined;
  let webPort: number;
  let otherPort: number;
  let laterPort: number;

  const logText = () => readFile(join(dir.path, 'writer.log'), 'utf8').catch(() => '');
  const configText = () => readFile(join(dir.path, 'run', 'haproxy.cfg'), 'utf8');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir();
    webBackends = await startHttpBackends('web', 1);
    otherBackends = await startHttpBackends('other', 1);
    [webPort, otherPort, laterPort] = await freePorts(3);
    await mkdirs(client, BASE);
    const node = (backend: HttpBackend) => ({ host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, metadataJson: '{}', peer: null });
    await writeOriginalNode(client, BASE, 'web', node(webBackends[0]!));
    await writeOriginalNode(client, BASE, 'other', node(otherBackends[0]!));
    await writeOriginalNode(client, BASE, 'later', node(otherBackends[0]!));
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
    await Promise.all([...(webBackends ?? []), ...(otherBackends ?? [])].map((backend) => backend.close()));
    await dir?.remove();
  });

  test('the clashing cluster is left out and named; all of web\'s traffic stays on web', async () => {
    await writeFile(join(dir.path, 'clusters', 'other.yaml'), `discovery: zookeeper\nhaproxy:\n  port: ${otherPort}\n  frontend:\n    - "bind 127.0.0.1:${webPort}"\n`);
    await waitFor(async () => (await logText()).includes(`cluster \\"other\\" left out of HAProxy: haproxy.frontend.0 \\"bind 127.0.0.1:${webPort}\\" listens on 127.0.0.1:${webPort}, already used by cluster \\"web\\" (haproxy.port ${webPort})`), 'the clash to be logged with both clusters named');
    // A later structural change is applied, so anything other.yaml caused has reached HAProxy by now.
    await writeFile(join(dir.path, 'clusters', 'later.yaml'), `discovery: zookeeper\nhaproxy:\n  port: ${laterPort}\n`);
    await waitFor(async () => (await httpGet(laterPort).catch(() => undefined))?.status === 200, 'the later change to be applied');
    const text = await configText();
    assert.equal(text.split(`:${webPort}\n`).length - 1, 1, `one listener on web's port:\n${text}`);
    assert.ok(!text.includes('frontend other'), 'the clashing cluster is left out');
    assert.deepEqual([...(await backendsReached(webPort, 30))], ['web1'], 'every request to web\'s port reaches web\'s server');
  });
});
