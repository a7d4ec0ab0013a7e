import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ZookeeperCluster, TcpRelay } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { sleep } from '../../src/lib/deadline.js';
import { ConnectionState, ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { NodeZookeeperClientEngine } from '../../src/discovery/zookeeper/engine-node-zookeeper-client.js';

/**
 * A whole-ensemble outage as a fleet's client sees it: three server
 * addresses that accept a connection and close it at once (a ZooKeeper that
 * is up but not yet in a quorum does that). The client must not knock on
 * them several times a second for the whole outage, and must resume its
 * session when they serve again.
 */
let zk: ZookeeperCluster;
const relays: TcpRelay[] = [];
let client: ZkClient | undefined;

before(async () => {
  zk = await ZookeeperCluster.start();
  for (let i = 0; i < 3; i += 1) relays.push(await TcpRelay.start(zk.servers[0]!.clientPort));
});

after(async () => {
  await client?.close().catch(() => undefined);
  for (const relay of relays) await relay.close();
  await zk?.stop();
});

test('during an outage the client waits longer after each failed round over the servers, and resumes its session afterwards', async (t) => {
  const options = { connectString: relays.map((relay) => relay.address).join(','), sessionTimeoutMs: 30_000, operationTimeoutMs: 5000, spinDelayMs: 500 };
  // The longest wait of each window: the fewest attempts pacing allows, so the bound below is the pacing's, not luck's.
  client = new ZkClient(options, new NodeZookeeperClientEngine({ ...options, reconnectRandom: () => 0.999 }));
  client.connect();
  await waitFor(() => client!.connectionState() === ConnectionState.CONNECTED, 'the first connection');
  const session = client.sessionId();

  for (const relay of relays) relay.cut();
  const before = relays.reduce((sum, relay) => sum + relay.accepted, 0);
  const outageMs = 6000;
  await sleep(outageMs);
  const attempts = relays.reduce((sum, relay) => sum + relay.accepted, 0) - before;
  t.diagnostic(`${attempts} connection attempts in a ${outageMs} ms outage over 3 servers`);
  // Rounds of 3 start at 0, 0.5, 1.5, 3.5 and 5.5 s (windows 0.5, 1, 2, 2 s): <= 5 rounds = 15 attempts in
  // 6 s; a slower machine makes fewer. The library's own pacing (a random 0-500 ms after every round) made ~70.
  assert.ok(attempts >= 3, `the client kept trying (${attempts} attempts)`);
  assert.ok(attempts <= 15, `no more than 5 rounds over the 3 servers in 6 s (${attempts} attempts)`);

  for (const relay of relays) relay.restore();
  await waitFor(() => client!.connectionState() === ConnectionState.CONNECTED, 'the reconnect', 15_000);
  assert.ok(client.sessionId().equals(session), 'the same session resumed');
  await client.exists('/'); // and it serves requests

  // A single lost connection after that is not an outage: the next server is tried at once.
  const connection = client.connection()?.id;
  const attemptsBefore = relays.reduce((sum, relay) => sum + relay.accepted, 0);
  client.dropConnection();
  await waitFor(() => client!.connectionState() === ConnectionState.CONNECTED && client!.connection()?.id !== connection, 'the reconnect after a drop', 15_000);
  assert.equal(relays.reduce((sum, relay) => sum + relay.accepted, 0) - attemptsBefore, 1, 'one attempt: the rounds were reset by the connection');
});
