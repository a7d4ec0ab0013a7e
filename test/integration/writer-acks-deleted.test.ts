import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { decodeAck } from '../../src/discovery/ack-record.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { silentLogger } from '../../src/lib/logger.js';
import { AckPublisher } from '../../src/writer/ack-publisher.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient, createDiscovery } from '../support/zookeeper.js';

/**
 * An operator clears the acks folder (zkCli `deleteall`), or deletes one
 * record: the writer used to notice only at its next change, and until then
 * it was invisible — drain --wait, finding no live writer, exits 0 ("nothing
 * to wait for") while that writer's HAProxy still routes to the node.
 */

const ACKS = '/lighthouse/writer-acks';
let zk: ZookeeperCluster;
let admin: ZkClient;

before(async () => {
  zk = await ZookeeperCluster.start();
  admin = await connectClient(zk.connectString);
});

after(async () => {
  admin?.close();
  await zk?.stop();
});

test('a record deleted by someone else is written again without waiting for a change', async () => {
  const discovery = createDiscovery({ hosts: zk.hosts, path: '/lighthouse/services', session_timeout_ms: 10_000 });
  const publisher = new AckPublisher({
    host: 'web-1',
    configDir: '/etc/lh',
    stateDir: '/var/lib/lh',
    logger: silentLogger(),
    store: () => discovery.acks,
    draining: async () => [],
    writes: new Counter({ name: 'acks_deleted', help: 'x', labelNames: ['discovery', 'result'] as const, registers: [new Registry()] }),
    minIntervalMs: 100,
  });
  discovery.connect({ onStateChange: (state) => state === 'connected' && publisher.reconnected('zk'), onSession: () => publisher.renewed('zk') });
  const recordPath = async () => {
    const { children } = await admin.getChildren(ACKS).catch(() => ({ children: [] as string[] }));
    return children.length === 1 ? `${ACKS}/${children[0]}` : undefined;
  };
  try {
    publisher.applied([{ cluster: 'web', discovery: 'zk', version: '7', members: [], held: [] }]);
    const path = await waitFor(recordPath, 'the record', 15_000);
    // A few of the writer's own writes first: its own setData must not read as a loss.
    for (const version of ['8', '9']) {
      publisher.applied([{ cluster: 'web', discovery: 'zk', version, members: [], held: [] }]);
      await waitFor(async () => decodeAck((await admin.getData(path)).data.toString('utf8')).ok && JSON.parse((await admin.getData(path)).data.toString('utf8')).clusters.web.version === version, `version ${version} written`, 10_000);
    }
    await admin.remove(path, -1);
    const again = await waitFor(async () => {
      const stat = await admin.exists(path);
      return stat ? (await admin.getData(path)).data.toString('utf8') : undefined;
    }, 'the record to be written again (no change applied meanwhile)', 10_000);
    const decoded = decodeAck(again);
    assert.ok(decoded.ok && decoded.ack.clusters.web?.version === '9', again);
  } finally {
    publisher.close();
    await discovery.close();
  }
});
