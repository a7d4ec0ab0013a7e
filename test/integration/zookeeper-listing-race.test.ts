import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiscovery, MemberLog, mkdirs, originalNodeBytes, TcpRelay, watchRequests, writeOriginalNode, zookeeperFixture, OLDER_SERVER } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';
import { watchModeOf } from '../../src/discovery/zookeeper/watch-mode.js';

/**
 * A listing's reply and the notification of a change right after it can
 * reach the client in one socket read (chaos 2 caught it under load). The
 * library hands the reply to its callback and then the notification to the
 * watch, which fires the children watch the listing had just armed; only
 * then does the listing's own code run. It must not take the watch for
 * standing: a resumed session then reads nothing, the server restores no
 * children watch, and a member added while the connection was away is
 * never seen. The one-shot path has the same race on a member's data
 * watch: a read's reply and a change right after it (a data change, or the
 * delete and create of a reporter's update).
 */

const BASE = '/lighthouse/listing-race';
const node = (host: string, ip = '10.0.0.5') => ({ host, ip, port: 80, metadataJson: '{}', peer: { ip, name: host, port: 1024 } });

const fx = zookeeperFixture();
const { discoveries, relays } = fx;

async function relayed(): Promise<{ relay: TcpRelay; d: ZookeeperDiscovery }> {
  const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
  relays.push(relay);
  const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 20_000, operation_timeout_ms: 5000 });
  discoveries.push(d);
  return { relay, d };
}

test('a children watch fired in the same read as the listing that armed it is not taken for standing: a member added while the connection is away is seen', async () => {
  await mkdirs(fx.admin, BASE);
  const { relay, d } = await relayed();
  const sessions: string[] = [];
  d.connect({ onSession: (id) => sessions.push(id) });
  const requests = watchRequests(d).log;
  const log = new MemberLog();
  d.watch('web', log.onMembers);
  // The folder is not there yet: the persistent watch stands and the set is empty.
  await log.waitFor((set) => set.members.length === 0, 'the empty set');
  await waitFor(() => requests.some((request) => request.startsWith('addWatch')), 'the persistent watch');

  // The folder appears: its created event brings a listing (no addWatch: the persistent watch stands).
  relay.hold();
  await mkdirs(fx.admin, `${BASE}/web`);
  await waitFor(() => relay.heldXids().includes(-1), 'the folder created notification');
  relay.release(true);
  await waitFor(() => relay.heldXids().some((xid) => xid > 0), "the listing's reply");
  // A member is created right after the server answered the listing: its notifications follow the reply.
  const first = await writeOriginalNode(fx.admin, BASE, 'web', node('m1.example.com'));
  await waitFor(() => relay.heldXids().filter((xid) => xid === -1).length >= 2, 'the created and children-changed notifications');
  relay.release();
  await log.waitForKeys(['m1.example.com:80']);
  assert.ok(first.endsWith('m1.example.com:80'));

  // The connection goes; a member is added meanwhile; the same session comes back.
  const connection = d.session.current().connection()?.id;
  relay.cut();
  await writeOriginalNode(fx.admin, BASE, 'web', node('m2.example.com'));
  relay.restore();
  await waitFor(() => d.state === 'connected' && d!.session.current().connection()?.id !== connection, 'the same session on a new connection', 15_000);
  await log.waitForKeys(['m1.example.com:80', 'm2.example.com:80'], 10_000);
  assert.equal(sessions.length, 1, 'the same session throughout');
});

test("one-shot path: a new member's data changed right after the listing's read of it (in the same socket read) is read again", async () => {
  await mkdirs(fx.admin, `${BASE}/old`);
  const { relay, d } = await relayed();
  // An older server (no addWatch) is played by refusing it as one does: UNIMPLEMENTED and the connection closed.
  const requests = watchRequests(d, OLDER_SERVER);
  d.connect({});
  const log = new MemberLog();
  d.watch('old', log.onMembers);
  await waitFor(() => !watchModeOf(d.session).persistent && d.state === 'connected' && (requests.ops.getChildren ?? 0) >= 1 && (requests.inFlight.getChildren ?? 0) === 0, 'the one-shot path, listed');
  await log.waitFor((set) => set.members.length === 0, 'the empty set');

  relay.hold();
  await writeOriginalNode(fx.admin, BASE, 'old', node('m1.example.com'));
  await waitFor(() => relay.heldXids().includes(-1), 'the children-changed notification');
  relay.release(true);
  await waitFor(() => relay.heldXids().some((xid) => xid > 0), "the listing's reply");
  relay.release(true);
  await waitFor(() => relay.heldXids().some((xid) => xid > 0), "the new member's read");
  // Its data changes right after the server answered the read (which armed its data watch).
  await fx.admin.setData(`${BASE}/old/m1.example.com:80`, originalNodeBytes(node('m1.example.com', '10.9.9.9')), -1);
  await waitFor(() => relay.heldXids().includes(-1), 'the data-changed notification');
  relay.release();
  await log.waitFor((set) => set.members.some((m) => m.host === 'm1.example.com' && m.ip === '10.9.9.9'), 'the changed data');
});

test("one-shot path: a member replaced right after the server answered its re-read (in the same socket read) is read again", async () => {
  await writeOriginalNode(fx.admin, BASE, 'old2', node('m1.example.com'));
  const { relay, d } = await relayed();
  const requests = watchRequests(d, OLDER_SERVER);
  d.connect({});
  const log = new MemberLog();
  d.watch('old2', log.onMembers);
  await log.waitForKeys(['m1.example.com:80']);
  await waitFor(() => !watchModeOf(d.session).persistent && d.state === 'connected' && Object.values(requests.inFlight).every((n) => n === 0), 'the one-shot path, idle');

  const path = `${BASE}/old2/m1.example.com:80`;
  relay.hold();
  await fx.admin.setData(path, originalNodeBytes(node('m1.example.com', '10.2.2.2')), -1);
  await waitFor(() => relay.heldXids().includes(-1), 'the data-changed notification');
  relay.release(true);
  await waitFor(() => relay.heldXids().some((xid) => xid > 0), 'the re-read');
  // A reporter's update right after the server answered the re-read: delete and create in one multi.
  await fx.admin.multi([
    { op: 'remove', path, version: -1 },
    { op: 'create', path, data: originalNodeBytes(node('m1.example.com', '10.3.3.3')), acl: OPEN_ACL, ephemeral: true },
  ]);
  await waitFor(() => relay.heldXids().filter((xid) => xid === -1).length >= 2, 'the deleted and children-changed notifications');
  relay.release();
  await log.waitFor((set) => set.members.some((m) => m.host === 'm1.example.com' && m.ip === '10.3.3.3'), 'the replaced data');
});
