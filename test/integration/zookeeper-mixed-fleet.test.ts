import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, createDiscovery, MemberLog, mkdirs, ZookeeperCluster } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';
import type { ClusterNode } from '../../src/discovery/node.js';

const BASE = '/lh/mixed';

/**
 * The original Lighthouse's writer, as its zookeeper.py does it: a kazoo
 * ChildrenWatch on the cluster folder and, on every children event, a plain
 * get of every child. It never watches a child's data.
 */
class ChildListReader {
  /** ip of each child as of the last children event */
  readonly ips = new Map<string, string>();
  events = 0;
  private closed = false;

  constructor(
    private readonly client: ZkClient,
    private readonly folder: string,
  ) {}

  async start(): Promise<void> {
    await this.read();
  }

  private async read(): Promise<void> {
    if (this.closed) return;
    const { children } = await this.client.getChildren(this.folder, () => {
      this.events += 1;
      void this.read();
    });
    this.ips.clear();
    for (const child of children) {
      const { data } = await this.client.getData(`${this.folder}/${child}`);
      this.ips.set(child, (JSON.parse(data.toString('utf8')) as { ip: string }).ip);
    }
  }

  close(): void {
    this.closed = true;
  }
}

const node = (ip: string, peerIp = ip): ClusterNode => ({
  host: 'web1.example.com',
  ip,
  port: 8000,
  metadata: { version: '1' },
  peer: { name: 'web1.example.com', ip: peerIp, port: 1024 },
});

describe('mixed fleet: a registration change reaches writers that watch only the child list', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  const discoveries: ZookeeperDiscovery[] = [];

  const connected = async (): Promise<ZookeeperDiscovery> => {
    const d = createDiscovery({ hosts: zk.hosts, path: BASE, session_timeout_ms: 4000 });
    discoveries.push(d);
    d.connect({});
    await waitFor(() => d.state === 'connected', 'the session');
    return d;
  };

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
  });

  after(async () => {
    for (const d of discoveries) await d.close().catch(() => undefined);
    await admin?.close();
    await zk?.stop();
  });

  test('an address change of a registered node is seen by an original-style child-list reader', async () => {
    await mkdirs(admin, `${BASE}/web`);
    const reporter = await connected();
    await reporter.publish('web', node('10.0.0.5'));
    const original = new ChildListReader(admin, `${BASE}/web`);
    await original.start();
    assert.equal(original.ips.get('web1.example.com:8000'), '10.0.0.5');

    await reporter.publish('web', node('10.0.0.6'));
    await waitFor(() => original.ips.get('web1.example.com:8000') === '10.0.0.6', 'the child-list reader to see the new address', 10_000);
    assert.ok(original.events >= 1);
    original.close();
  });

  test('a peer change too; our own writers (child list + data watches) see both changes, with no gap in membership', async () => {
    const reporter = await connected();
    await reporter.publish('api', node('10.0.1.5'));
    const original = new ChildListReader(admin, `${BASE}/api`);
    await original.start();
    const writer = await connected();
    const log = new MemberLog();
    writer.watch('api', log.onMembers);
    await log.waitFor((set) => set.members[0]?.ip === '10.0.1.5', 'our writer sees the node');

    const eventsBefore = original.events;
    await reporter.publish('api', node('10.0.1.5', '10.0.1.99'));
    await waitFor(() => original.events > eventsBefore, 'a children event for the peer change', 10_000);
    await log.waitFor((set) => set.members[0]?.peer?.ip === '10.0.1.99', 'our writer sees the new peer');

    await reporter.publish('api', node('10.0.1.7'));
    await waitFor(() => original.ips.get('web1.example.com:8000') === '10.0.1.7', 'the child-list reader sees the new address', 10_000);
    await log.waitFor((set) => set.members[0]?.ip === '10.0.1.7', 'our writer sees the new address');
    // Replaced in one multi: no member set our writer saw was ever empty.
    assert.ok(log.sets.slice(1).every((set) => set.members.length === 1), `member counts: ${log.sets.map((set) => set.members.length).join(',')}`);
    original.close();
  });
});
