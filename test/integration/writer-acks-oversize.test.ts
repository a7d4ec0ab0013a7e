import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { decodeAck } from '../../src/discovery/ack-record.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { silentLogger } from '../../src/lib/logger.js';
import { AckPublisher } from '../../src/writer/ack-publisher.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient, createDiscovery } from '../support/zookeeper.js';

/**
 * A record too large for ZooKeeper (a writer consuming thousands of
 * clusters, or a removal guard holding a huge cluster): just under the
 * client's 1 MiB data limit the server's jute.maxbuffer drops the
 * connection, and the publisher retried at once on every reconnect — a loop
 * of connection losses under the writer's watches; just over it, the
 * record was never written and the writer was invisible to drain --wait.
 * It must write a small stand-in that readers name instead.
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

const node = (index: number): ClusterNode => ({ host: `h${String(index).padStart(6, '0')}.example`, ip: '10.0.0.1', port: 8080, metadata: {}, peer: null });

for (const [label, held] of [
  ['just under the client limit (the server drops the connection)', 45_568],
  ['over the client limit (refused before it is sent)', 47_000],
] as const) {
  test(`a record ${label}: no connection-loss loop, a stand-in that names its clusters and says why`, async () => {
    const discovery = createDiscovery({ hosts: zk.hosts, path: '/lighthouse/services', session_timeout_ms: 10_000 });
    const states: string[] = [];
    const writes = new Counter({ name: `acks_oversize_${held}`, help: 'x', labelNames: ['discovery', 'result'] as const, registers: [new Registry()] });
    const publisher: AckPublisher = new AckPublisher({
      host: `big-${held}`,
      configDir: '/etc/lh',
      stateDir: '/var/lib/lh',
      logger: silentLogger(),
      store: () => discovery.acks,
      draining: async () => [],
      writes,
      minIntervalMs: 100,
    });
    discovery.connect({
      onStateChange: (state) => {
        states.push(state);
        if (state === 'connected') publisher.reconnected('zk');
      },
      onSession: () => publisher.renewed('zk'),
    });
    try {
      await waitFor(() => discovery.state === 'connected', 'connected', 20_000);
      const members = Array.from({ length: 10 }, (_, index) => node(index));
      publisher.applied([
        { cluster: 'web', discovery: 'zk', version: '7', members, held: Array.from({ length: held }, (_, index) => node(index + 10)) },
        { cluster: 'api', discovery: 'zk', version: '7', members, held: [] },
      ]);
      const text = await waitFor(async () => {
        const { children } = await admin.getChildren(ACKS).catch(() => ({ children: [] as string[] }));
        const name = children.find((child) => child.startsWith(`big-${held}_`));
        return name ? (await admin.getData(`${ACKS}/${name}`)).data.toString('utf8') : undefined;
      }, 'a record of the writer in the acks folder', 15_000);
      // A few more seconds: every retry of a record the server refuses would cost a reconnect.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.ok(states.filter((state) => state === 'disconnected').length === 0, `the writer's connection was lost ${states.filter((state) => state === 'disconnected').length} times: ${states.join(' ')}`);
      const decoded = decodeAck(text);
      assert.ok(!decoded.ok, 'the stand-in must not read as a record that runs nothing');
      assert.match(decoded.error, /too large/);
      const parsed = JSON.parse(text) as { oversize?: { clusters?: string[] } };
      assert.deepEqual(parsed.oversize?.clusters, ['api', 'web']);
    } finally {
      publisher.close();
      await discovery.close();
    }
  });
}
