import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, createDiscovery, MemberLog, originalNodeBytes, TcpRelay, watchRequests, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { sleep } from '../../src/lib/deadline.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';

const BASE = '/lighthouse/reconnect-reads';
const node = (host: string, ip = '10.0.0.5') => ({ host, ip, port: 80, metadataJson: '{}', peer: { ip, name: host, port: 1024 } });

let zk: ZookeeperCluster;
let admin: ZkClient;
let relay: TcpRelay;
let d: ZookeeperDiscovery | undefined;

before(async () => {
  zk = await ZookeeperCluster.start();
  admin = await connectClient(zk.connectString);
  relay = await TcpRelay.start(zk.server(1).clientPort);
});

after(async () => {
  await d?.close().catch(() => undefined);
  await relay?.close();
  await admin?.close();
  await zk?.stop();
});

test('the same session back after a lost connection reads only what changed meanwhile: the restored watches tell what did', async () => {
  const herd: string[] = [];
  for (let i = 0; i < 10; i += 1) herd.push(await writeOriginalNode(admin, BASE, 'herd', node(`h${i}.example.com`)));
  await writeOriginalNode(admin, BASE, 'quiet', node('q1.example.com'));
  d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 20_000, operation_timeout_ms: 5000 });
  const sessions: string[] = [];
  d.connect({ onSession: (id) => sessions.push(id) });
  const reads = watchRequests(d).log;
  const herdLog = new MemberLog();
  const quietLog = new MemberLog();
  d.watch('herd', herdLog.onMembers);
  d.watch('quiet', quietLog.onMembers);
  await herdLog.waitFor((set) => set.members.length === 10, '10 members');
  await quietLog.waitForKeys(['q1.example.com:80']);
  await waitFor(() => reads.length >= 13, 'the first reads');
  await sleep(200);

  // 1. Nothing changed while the connection was away: no read at all.
  reads.length = 0;
  let connection = d.session.current().connection()?.id;
  relay.cut();
  relay.restore();
  await waitFor(() => d!.state === 'connected' && d!.session.current().connection()?.id !== connection, 'the same session on a new connection', 15_000);
  await sleep(500);
  assert.equal(reads.length, 0, `no read after a reconnect that missed nothing: ${reads.join('; ')}`);

  // 2. Changes while away: a member gone, one added, one member's data changed. Each is seen, and only
  // the herd's folder is listed again; the quiet cluster is not read.
  connection = d.session.current().connection()?.id;
  relay.cut();
  await admin.remove(herd[0]!, -1);
  await writeOriginalNode(admin, BASE, 'herd', node('new.example.com'));
  await admin.setData(herd[5]!, originalNodeBytes(node('h5.example.com', '10.9.9.9')), -1);
  relay.restore();
  await herdLog.waitFor(
    (set) => set.members.length === 10 && !set.members.some((m) => m.host === 'h0.example.com') && set.members.some((m) => m.host === 'new.example.com') && set.members.some((m) => m.host === 'h5.example.com' && m.ip === '10.9.9.9'),
    'the changes made while the connection was away',
    15_000,
  );
  assert.ok(d.session.current().connection()?.id !== connection, 'a new connection');
  await sleep(500);
  assert.deepEqual(sessions.length, 1, 'the same session throughout');
  assert.ok(!reads.some((read) => read.includes('/quiet')), `the quiet cluster was not read: ${reads.join('; ')}`);
  assert.equal(reads.filter((read) => read.startsWith('getChildren')).length, 1, `one listing: ${reads.join('; ')}`);
  assert.deepEqual(reads.filter((read) => read.startsWith('getData')).sort(), [`getData ${BASE}/herd/h5.example.com:80`, `getData ${BASE}/herd/new.example.com:80`], `only the new and the changed member read: ${reads.join('; ')}`);

  // 3. The watches still stand afterwards.
  await writeOriginalNode(admin, BASE, 'quiet', node('q2.example.com'));
  await quietLog.waitForKeys(['q1.example.com:80', 'q2.example.com:80']);
});
