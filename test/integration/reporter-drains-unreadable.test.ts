import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

/**
 * A reporter (re)started while drains.json cannot be read (a hand edit with
 * a typo) does not know which ports an operator drained. It used to start
 * with "no drains" and register them; now every service counts as drained
 * until the file can be read, and the file's drains then take over.
 */

const BASE = '/lighthouse/drains-unreadable';
const HOST = 'drains.test';

describe('reporter started while drains.json is invalid', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let web: ToggleService;
  let api: ToggleService;
  let reporter: DaemonProcess | undefined;

  const znode = (service: string, port: number) => `${BASE}/${service}/${HOST}:${port}`;
  const registered = async (service: string, port: number) => (await admin.exists(znode(service, port))) !== null;
  const log = () => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');
  const drainsFile = () => join(dir.path, '.state', 'drains.json');
  const service = (port: number) => `discovery: zookeeper\nport: ${port}\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`;

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-drains-unreadable-');
    web = await startToggleService(await freePort());
    api = await startToggleService(await freePort());
    await writeConfig(dir.path, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/web.yaml': service(web.port),
      'services/api.yaml': service(api.port),
    });
  });

  after(async () => {
    await reporter?.stop();
    await admin?.close();
    await zk?.stop();
    await web?.close();
    await api?.close();
    await dir?.remove();
  });

  test('no service registers until the file reads; then only the undrained ones', { timeout: 120_000 }, async () => {
    const valid = { version: 1, services: { web: { ports: 'all', reason: 'kernel upgrade', since: '2026-11-29T08:00:00.000Z' } } };
    await mkdir(join(dir.path, '.state'), { recursive: true });
    // The operator's edit, with a trailing comma.
    await writeFile(drainsFile(), JSON.stringify(valid, null, 2).replace(/\n}$/, ',\n}'));
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));

    await waitFor(async () => /drains\.json: not valid JSON/.test(await log()), 'the reporter to report the invalid drains file', 30_000);
    await waitFor(async () => new RegExp(`service web port ${web.port} is up`).test(await log()), 'web to pass its checks', 30_000);
    await waitFor(async () => new RegExp(`service api port ${api.port} is up`).test(await log()), 'api to pass its checks', 30_000);
    await waitFor(async () => /service web: draining port\(s\) all: .*drains\.json cannot be read/.test(await log()), 'web held as drained while the file cannot be read', 30_000);
    assert.equal(await registered('web', web.port), false, 'web (drained in the file) must not be registered');
    assert.equal(await registered('api', api.port), false, 'no service is registered while the drains are unknown');

    await writeFile(drainsFile(), `${JSON.stringify(valid, null, 2)}\n`);
    await waitFor(() => registered('api', api.port), 'api (not drained) to register once the file reads', 30_000);
    assert.equal(await registered('web', web.port), false, 'web stays drained');
    assert.match(await log(), /service web: draining port\(s\) all: kernel upgrade/);

    await writeFile(drainsFile(), `${JSON.stringify({ version: 1, services: {} }, null, 2)}\n`);
    await waitFor(() => registered('web', web.port), 'web to register once undrained', 30_000);
  });
});
