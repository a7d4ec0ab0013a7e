import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient, createDiscovery, MemberLog, TcpRelay, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';

/**
 * After an expiry the cluster watch lists the folder and keeps the data it
 * had for members still listed until their re-reads land (rewatch queue). A
 * member deleted and re-created under the same name while the session was
 * gone moves the folder's pzxid, so the set reported from the listing
 * carried the newest version with the member's old data: the writer
 * acknowledged a version it did not run (drain --wait, fleet). Until the
 * kept members are read again the set must not claim a version.
 */

const BASE = '/lighthouse/rewatch-version';
const node = (host: string, ip: string) => ({ host, ip, port: 80, metadataJson: '{}', peer: { ip, name: host, port: 1024 } });

let zk: ZookeeperCluster;
let admin: ZkClient;
let relay: TcpRelay;
let discovery: ZookeeperDiscovery | undefined;

before(async () => {
  zk = await ZookeeperCluster.start();
  admin = await connectClient(zk.connectString);
  relay = await TcpRelay.start(zk.server(1).clientPort);
});

after(async () => {
  await discovery?.close().catch(() => undefined);
  await relay?.close();
  admin?.close();
  await zk?.stop();
});

test('a member re-created with new data during an expiry: no set claims a version it does not reflect, and the new data arrives', async () => {
  const m1 = await writeOriginalNode(admin, BASE, 'web', node('m1.example.com', '10.0.0.1'));
  await writeOriginalNode(admin, BASE, 'web', node('m2.example.com', '10.0.0.2'));
  const sessions: string[] = [];
  discovery = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 1000, operation_timeout_ms: 5000 });
  discovery.connect({ onSession: (id) => sessions.push(id) });
  const log = new MemberLog();
  discovery.watch('web', log.onMembers);
  await log.waitFor((set) => set.members.length === 2, 'both members');

  const witness = `${BASE}/witness/me.example.com:80`;
  await discovery.publish('witness', { host: 'me.example.com', ip: '10.0.0.9', port: 80, metadata: {}, peer: null });
  relay.cut();
  // The reporter of m1 restarted meanwhile: delete + create, same name, a new IP.
  await admin.remove(m1, -1);
  await writeOriginalNode(admin, BASE, 'web', node('m1.example.com', '10.7.7.7'));
  const recreated = (await admin.getData(m1)).stat.mzxid.readBigInt64BE(0);
  await waitFor(async () => (await admin.exists(witness)) === null, 'the server to expire the session', 15_000);
  const before = log.sets.length;
  relay.restore();
  await waitFor(() => sessions.length === 2, 'a new session', 15_000);

  // Converges: the new data, and a version again once every kept member was read.
  await log.waitFor((set) => set.version !== undefined && set.members.some((member) => member.host === 'm1.example.com' && member.ip === '10.7.7.7'), 'the re-created member\'s new data, with a version', 15_000);
  for (const set of log.sets.slice(before)) {
    const ip = set.members.find((member) => member.host === 'm1.example.com')?.ip;
    if (set.version !== undefined && BigInt(set.version) >= recreated) assert.equal(ip, '10.7.7.7', `a set claimed version ${set.version} (>= ${recreated}, the re-creation) with m1 at its old IP ${ip}`);
  }
  assert.ok(log.latest?.version !== undefined && BigInt(log.latest.version) >= recreated, `the converged set claims version ${log.latest?.version}`);
});
