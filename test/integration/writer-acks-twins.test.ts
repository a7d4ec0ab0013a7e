import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { fleetModel, readFrom } from '../../src/cli/fleet-view.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { silentLogger } from '../../src/lib/logger.js';
import { AckPublisher } from '../../src/writer/ack-publisher.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient, createDiscovery } from '../support/zookeeper.js';

/**
 * Two machines with the same host name and the same state folder (a cloned
 * image, a hostname set by hand): their writers used to write one record,
 * each replacing the other's, so `fleet` showed one writer and drain --wait
 * could succeed on the word of one HAProxy while the other still routed to
 * the node. With the machine id in the record's name, each keeps its own
 * record and `fleet` names the pair.
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

const node = (host: string): ClusterNode => ({ host, ip: '10.0.0.1', port: 80, metadata: {}, peer: null });

test('two machines sharing a host name and state folder keep two records, and fleet names them both', async () => {
  const machines = ['0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210'];
  const twins = machines.map((machine, index) => {
    const discovery = createDiscovery({ hosts: zk.hosts, path: '/lighthouse/services', session_timeout_ms: 10_000 });
    const publisher = new AckPublisher({
      host: 'web-1',
      machine,
      configDir: `/etc/lighthouse-${index}`,
      stateDir: '/var/lib/lighthouse',
      logger: silentLogger(),
      store: () => discovery.acks,
      draining: async () => [],
      writes: new Counter({ name: `acks_twin_${index}`, help: 'x', labelNames: ['discovery', 'result'] as const, registers: [new Registry()] }),
      minIntervalMs: 50,
    });
    discovery.connect({ onStateChange: (state) => state === 'connected' && publisher.reconnected('zk'), onSession: () => publisher.renewed('zk') });
    return { discovery, publisher };
  });
  try {
    // Machine 0 runs the new set (without a), machine 1 still the old one; each writes a few times, as changes come.
    for (let round = 1; round <= 3; round += 1) {
      twins[0]!.publisher.applied([{ cluster: 'web', discovery: 'zk', version: String(10 + round), members: [node('b')], held: [] }]);
      twins[1]!.publisher.applied([{ cluster: 'web', discovery: 'zk', version: String(round), members: [node('a'), node('b')], held: [] }]);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const read = await waitFor(async () => {
      const outcome = await readFrom(twins[0]!.discovery, { name: 'zk', file: 'zk.yaml' }, 5_000);
      return outcome.records.length === 2 ? outcome : undefined;
    }, 'two records in the acks folder', 15_000).catch(async (error: unknown) => assert.fail(`${String(error)}: ${(await admin.getChildren(ACKS)).children.join(', ')}`));
    assert.deepEqual(read.records.map((record) => record.ack.configDir).sort(), ['/etc/lighthouse-0', '/etc/lighthouse-1']);
    const report = fleetModel(read.records, Date.now());
    const web = report.clusters.find((cluster) => cluster.name === 'web')!;
    assert.equal(web.writers.length, 2);
    assert.equal(web.writers.filter((writer) => writer.current).length, 1, 'the twin on the old set must show as behind');
    assert.ok(report.problems.some((problem) => problem.includes('web-1:/var/lib/lighthouse') && problem.includes('2 records')), report.problems.join('\n'));
  } finally {
    for (const twin of twins) {
      twin.publisher.close();
      await twin.discovery.close();
    }
  }
});
