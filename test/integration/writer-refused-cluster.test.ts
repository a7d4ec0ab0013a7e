import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { Writer } from '../../src/writer/writer.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { LighthouseError } from '../../src/lib/errors.js';
import { zookeeperDiscovery } from '../../src/discovery/zookeeper/plugin.js';
import type { DiscoveryPlugin } from '../../src/discovery/plugin-types.js';
import { coreRegistries } from '../support/core-registries.js';
import { ZookeeperCluster, connectClient, writeOriginalNode, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';

/**
 * The schema keeps `.` and `..` out, but a discovery plugin may refuse names
 * the core accepts (issue #11): the writer must then skip that one cluster,
 * say which file, and keep watching every other cluster.
 */

const BASE = '/lighthouse/services';

/** The real ZooKeeper plugin, except that it refuses to watch clusters whose name starts with "refused". */
const pickyZookeeper: DiscoveryPlugin<z.output<typeof zookeeperDiscovery.schema>> = {
  kind: 'picky',
  schema: zookeeperDiscovery.schema,
  create(config, helper) {
    const inner = zookeeperDiscovery.create(config, helper);
    const watch = inner.watch.bind(inner);
    inner.watch = (cluster, onMembers) => {
      if (cluster.startsWith('refused')) throw new LighthouseError('LH_ZK_OPERATION', `${JSON.stringify(cluster)} is not a valid znode name`, { znode: `${BASE}/${cluster}` });
      return watch(cluster, onMembers);
    };
    return inner;
  },
};

describe('writer: a cluster its discovery refuses does not stop the others', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let writer: Writer | undefined;
  const node = (port: number) => ({ host: `n${port}.test`, ip: '127.0.0.1', port, metadataJson: '{}', peer: null });
  const logText = () => readFile(join(dir.path, 'writer.log'), 'utf8').catch(() => '');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir();
    await mkdirs(client, BASE);
    await writeOriginalNode(client, BASE, 'web', node(9001));
    await writeOriginalNode(client, BASE, 'zeta', node(9002));
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, 'plugin: picky'),
      // Sorts before web: on the unfixed writer, its throw stopped every cluster after it.
      'clusters/a.yaml': 'name: refused-a\ndiscovery: zookeeper\n',
      'clusters/web.yaml': 'discovery: zookeeper\n',
    });
  });

  after(async () => {
    await writer?.stop();
    client?.close();
    await zk?.stop();
    await dir?.remove();
  });

  test('at start: the writer starts, watches web, and logs the refused cluster with its file', async () => {
    const registries = coreRegistries();
    registries.discovery.register(pickyZookeeper);
    const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: join(dir.path, 'writer.log') });
    writer = new Writer({ configDir: dir.path, registries, log, startupWaitMs: 500 });
    await writer.start();
    await waitFor(() => writer!.state.get('web').members.length === 1, 'web to be watched and get its member');
    await waitFor(async () => (await logText()).includes(`${join(dir.path, 'clusters', 'a.yaml')}: cannot watch cluster \\"refused-a\\"`), 'the refused cluster logged with its file');
  });

  test('at run time: a refused cluster added before another does not stop the other being watched', async () => {
    await writeFile(join(dir.path, 'clusters', 'b.yaml'), 'name: refused-b\ndiscovery: zookeeper\n');
    await writeFile(join(dir.path, 'clusters', 'zeta.yaml'), 'discovery: zookeeper\n');
    await waitFor(() => writer!.state.get('zeta').members.length === 1, 'zeta to be watched and get its member');
    await waitFor(async () => (await logText()).includes(`${join(dir.path, 'clusters', 'b.yaml')}: cannot watch cluster \\"refused-b\\"`), 'the refused cluster logged with its file');
    assert.equal((await logText()).split(`cannot watch cluster \\"refused-a\\"`).length - 1, 1, 'logged once, not on every rescan');
  });
});
