import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createDiscovery,
  MemberLog,
  originalNodeBytes,
  TcpRelay,
  watchRequests,
  writeOriginalNode,
  zookeeperFixture,
} from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { REWATCH_IN_FLIGHT } from '../../src/discovery/zookeeper/rewatch-queue.js';

const BASE = '/lighthouse/rewatch';
const MEMBERS = 60;
const node = (host: string, ip = '10.0.0.5') => ({ host, ip, port: 80, metadataJson: '{}', peer: { ip, name: host, port: 1024 } });
const host = (i: number): string => `m${String(i).padStart(2, '0')}.example.com`;

describe('zookeeper discovery: recovery after a new session is spread and bounded', () => {
  const fx = zookeeperFixture();
  const { discoveries, relays } = fx;

  test('after an expiry: membership from one listing, every member data-watched again, at most REWATCH_IN_FLIGHT reads at a time, each member read once', async () => {
    const paths: string[] = [];
    for (let i = 0; i < MEMBERS; i += 1) paths.push(await writeOriginalNode(fx.admin, BASE, 'herd', node(host(i))));
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const sessions: string[] = [];
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 1000, operation_timeout_ms: 5000 });
    discoveries.push(d);
    const reads = watchRequests(d);
    d.connect({ onSession: (id) => sessions.push(id) });
    const log = new MemberLog();
    d.watch('herd', log.onMembers);
    // A second cluster on the same session shares the bound.
    await writeOriginalNode(fx.admin, BASE, 'other', node('o1.example.com'));
    await writeOriginalNode(fx.admin, BASE, 'other', node('o2.example.com'));
    const other = new MemberLog();
    d.watch('other', other.onMembers);
    await log.waitFor((set) => set.members.length === MEMBERS, `${MEMBERS} members`);
    await other.waitForKeys(['o1.example.com:80', 'o2.example.com:80']);

    // Expire the session: cut the network until the server drops it (its ephemeral is the witness).
    const mine = `${BASE}/witness/me.example.com:80`;
    await d.publish('witness', { host: 'me.example.com', ip: '10.0.0.1', port: 80, metadata: {}, peer: null });
    relay.cut();
    await fx.admin.remove(paths[0]!, -1);
    await writeOriginalNode(fx.admin, BASE, 'herd', node('new.example.com'));
    await waitFor(async () => (await fx.admin.exists(mine)) === null, 'the server to expire the session', 15_000);
    reads.reset();
    relay.restore();
    await waitFor(() => sessions.length === 2, 'a new session', 15_000);

    // The membership changes made meanwhile are seen (m00 gone, new added).
    await log.waitFor((set) => set.members.length === MEMBERS && !set.members.some((m) => m.host === host(0)) && set.members.some((m) => m.host === 'new.example.com'), 'the outage changes');
    // Every known member gets its data watch back: a data change (setData, no children event) on each is seen.
    await waitFor(() => (reads.ops.getData ?? 0) >= MEMBERS - 1 + 2 + 1 && (reads.inFlight.getData ?? 0) === 0, 'the re-reads to finish', 20_000);
    for (const i of [1, 30, MEMBERS - 1]) {
      await fx.admin.setData(paths[i]!, originalNodeBytes(node(host(i), '10.9.9.9')), -1);
      await log.waitFor((set) => set.members.some((m) => m.host === host(i) && m.ip === '10.9.9.9'), `the data change of ${host(i)} after the expiry`);
    }
    await fx.admin.setData(`${BASE}/other/o2.example.com:80`, originalNodeBytes(node('o2.example.com', '10.9.9.9')), -1);
    await other.waitFor((set) => set.members.some((m) => m.ip === '10.9.9.9'), 'the data change in the second cluster');

    // Bounded: never more than REWATCH_IN_FLIGHT data reads at once for the whole session ...
    assert.ok((reads.maxInFlight.getData ?? 0) <= REWATCH_IN_FLIGHT, `${reads.maxInFlight.getData ?? 0} getData in flight at once after the new session (bound ${REWATCH_IN_FLIGHT})`);
    // ... and each member read once: 59 known + o1 + o2 re-watched, the new one read, plus the 3 + 1 changes above.
    assert.equal(reads.ops.getData, MEMBERS - 1 + 2 + 1 + 4);
  });
});
