import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
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
 * #19.8: a discovery file removed while its services are registered. Like
 * the writer (which keeps the members it has), the reporter keeps its
 * session and registrations: a file removed by mistake must not take a
 * service out of every load balancer. Decommissioning is removing the
 * service file (or stopping the reporter), which deregisters at once.
 */

const BASE = '/lighthouse/discovery-removed';
const HOST = 'removed.test';

describe('reporter: the discovery file of registered services is removed', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let web: ToggleService;
  let reporter: DaemonProcess | undefined;

  const znode = () => `${BASE}/web/${HOST}:${web.port}`;
  const owner = async () => (await admin.exists(znode()))?.ephemeralOwner.toString('hex');
  const zkYaml = () => zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`);
  const log = () => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-discovery-removed-');
    web = await startToggleService(await freePort());
    await writeConfig(dir.path, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zkYaml(),
      'services/web.yaml': `discovery: zookeeper\nport: ${web.port}\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`,
    });
  });

  after(async () => {
    await reporter?.stop();
    await admin?.close();
    await zk?.stop();
    await web?.close();
    await dir?.remove();
  });

  test('registrations stay on the last session; the file back moves them to a new one; removing the service deregisters', { timeout: 120_000 }, async (t) => {
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
    try {
      const first = await waitFor(owner, 'web registered', 30_000);
      await rm(join(dir.path, 'discovery', 'zookeeper.yaml'));
      await waitFor(async () => /"msg":"discovery removed"/.test(await log()), 'the removal to be noticed', 20_000);
      // Past the session timeout (4 s): a closed session would have taken the node with it.
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        assert.equal(await owner(), first, 'still registered by the first session');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.match(await log(), /is no longer configured .* keeps its registrations on the last session/);

      await writeConfig(dir.path, { 'discovery/zookeeper.yaml': zkYaml() });
      await waitFor(async () => {
        const now = await owner();
        assert.notEqual(now, undefined, 'never unregistered while moving to the new session');
        return now !== first;
      }, 'a new session to hold web', 30_000);

      await rm(join(dir.path, 'services', 'web.yaml'));
      await waitFor(async () => (await owner()) === undefined, 'web deregistered with its service file', 20_000);
      assert.equal(await reporter.stop(20_000), 0);
    } catch (error) {
      t.diagnostic((await log()).split('\n').slice(-40).join('\n'));
      throw error;
    }
  });
});
