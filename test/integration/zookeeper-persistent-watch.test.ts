import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLogger, createDiscovery, MemberLog, originalNodeBytes, TcpRelay, watchRequests, writeOriginalNode, zookeeperFixture, OLDER_SERVER } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { ZookeeperError } from '../../src/discovery/zookeeper/zk-errors.js';
import { MAX_LOSSES_WITH_ADD_WATCH } from '../../src/discovery/zookeeper/watch-mode.js';

/**
 * The cluster watch on ZooKeeper 3.6+ uses one persistent recursive watch
 * per cluster folder (addWatch): a change costs the read of what changed
 * (getData of a new or changed child, exists(folder) after a removal for the
 * version), never a listing; the folder is listed only after a (re)connect,
 * because the server neither keeps nor replays a persistent watch across
 * connections. Counts are of requests the watches send (client-side), never
 * times.
 */

const BASE = '/lighthouse/persistent';
const node = (host: string, ip = '10.0.0.5') => ({ host, ip, port: 80, metadataJson: '{}', peer: { ip, name: host, port: 1024 } });


/** The version every writer must report for the folder as it is now: max(pzxid, children's mzxid). */
async function expectedVersion(admin: ZkClient, folder: string): Promise<string> {
  const { children, stat } = await admin.getChildren(folder);
  let version = stat.pzxid.readBigInt64BE(0);
  for (const child of children) {
    const mzxid = (await admin.getData(`${folder}/${child}`)).stat.mzxid.readBigInt64BE(0);
    if (mzxid > version) version = mzxid;
  }
  return String(version);
}

describe('zookeeper discovery: persistent recursive watches', () => {
  const fx = zookeeperFixture();
  const { discoveries, relays } = fx;

  test('a rolling deploy (N removes, N re-adds) and a data change cost N exists + N+1 getData and no listing, with the exact version after each change', async () => {
    const folder = `${BASE}/deploy`;
    for (let i = 0; i < 5; i += 1) await writeOriginalNode(fx.admin, BASE, 'deploy', node(`m${i}.example.com`));
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    const counts = watchRequests(d);
    d.connect({});
    const log = new MemberLog();
    d.watch('deploy', log.onMembers);
    await log.waitFor((set) => set.members.length === 5, '5 members');
    assert.deepEqual(counts.ops, { addWatch: 1, getChildren: 1, getData: 5 }, 'the initial sync');
    counts.reset();

    const N = 5;
    for (let i = 0; i < N; i += 1) {
      const host = `m${i}.example.com`;
      await fx.admin.remove(`${folder}/${host}:80`, -1);
      let want = await expectedVersion(fx.admin, folder);
      await log.waitFor((set) => !set.members.some((m) => m.host === host) && set.version === want, `${host} removed, version ${want} (last ${log.latest?.version})`);
      await writeOriginalNode(fx.admin, BASE, 'deploy', node(host, `10.0.1.${i}`));
      want = await expectedVersion(fx.admin, folder);
      await log.waitFor((set) => set.members.some((m) => m.host === host && m.ip === `10.0.1.${i}`) && set.version === want, `${host} back, version ${want} (last ${log.latest?.version})`);
    }
    await fx.admin.setData(`${folder}/m2.example.com:80`, originalNodeBytes(node('m2.example.com', '10.9.9.9')), -1);
    const want = await expectedVersion(fx.admin, folder);
    await log.waitFor((set) => set.members.some((m) => m.host === 'm2.example.com' && m.ip === '10.9.9.9') && set.version === want, 'the data change');
    assert.deepEqual(counts.ops, { exists: N, getData: N + 1 }, `requests for ${N} removes, ${N} adds and a data change`);
  });

  test('a member replaced in one multi (delete + create, as the reporter changes its data) is never missing from a reported set', async () => {
    const reporter = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(reporter);
    reporter.connect({});
    await waitFor(() => reporter.state === 'connected', 'the reporter session');
    const published = (ip: string) => ({ host: 'r.example.com', ip, port: 80, metadata: {}, peer: null });
    await reporter.publish('replace', published('10.0.2.0'));
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    const counts = watchRequests(d);
    d.connect({});
    const log = new MemberLog();
    d.watch('replace', log.onMembers);
    await log.waitFor((set) => set.members[0]?.ip === '10.0.2.0', 'the member');
    counts.reset();
    for (let i = 1; i <= 10; i += 1) {
      await reporter.publish('replace', published(`10.0.2.${i}`));
      await log.waitFor((set) => set.members[0]?.ip === `10.0.2.${i}`, `replacement ${i}`);
    }
    assert.ok(log.sets.every((set) => set.members.length === 1), `member counts: ${log.sets.map((set) => set.members.length).join(',')}`);
    assert.equal(counts.ops.getChildren ?? 0, 0, 'no listing');
  });

  test('a burst of concurrent creates and deletes converges to the exact set and version, with no listing and at most one read per change', async () => {
    const folder = `${BASE}/burst`;
    for (let i = 0; i < 10; i += 1) await writeOriginalNode(fx.admin, BASE, 'burst', node(`old${i}.example.com`));
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    const counts = watchRequests(d);
    d.connect({});
    const log = new MemberLog();
    d.watch('burst', log.onMembers);
    await log.waitFor((set) => set.members.length === 10, '10 members');
    counts.reset();
    const seen = log.sets.length;
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => writeOriginalNode(fx.admin, BASE, 'burst', node(`new${i}.example.com`))),
      ...Array.from({ length: 10 }, (_, i) => fx.admin.remove(`${folder}/old${i}.example.com:80`, -1)),
    ]);
    const want = await expectedVersion(fx.admin, folder);
    const final = await log.waitFor((set) => set.members.length === 30 && set.version === want, `the 30 new members at version ${want}`);
    assert.ok(final.members.every((m) => m.host.startsWith('new')));
    // No set claimed the final version before it held the final membership.
    for (const set of log.sets.slice(seen)) if (set.version === want) assert.equal(set.members.length, 30);
    assert.equal(counts.ops.getChildren ?? 0, 0, 'no listing');
    assert.ok((counts.ops.getData ?? 0) <= 30 && (counts.ops.exists ?? 0) <= 10, `requests for 30 creates and 10 deletes: ${JSON.stringify(counts.ops)}`);
  });

  test('changes made while the connection is down are seen after the reconnect (same session: one addWatch and one listing), and later changes again without a listing', async () => {
    const folder = `${BASE}/outage`;
    for (const host of ['a', 'b', 'c']) await writeOriginalNode(fx.admin, BASE, 'outage', node(`${host}.example.com`));
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const sessions: string[] = [];
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 20_000 });
    discoveries.push(d);
    const counts = watchRequests(d);
    d.connect({ onSession: (id) => sessions.push(id) });
    const log = new MemberLog();
    d.watch('outage', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80', 'c.example.com:80']);

    relay.cut();
    await waitFor(() => d.state !== 'connected', 'the writer to see the connection drop');
    await fx.admin.remove(`${folder}/a.example.com:80`, -1);
    await writeOriginalNode(fx.admin, BASE, 'outage', node('d.example.com'));
    await fx.admin.setData(`${folder}/b.example.com:80`, originalNodeBytes(node('b.example.com', '10.8.8.8')), -1);
    counts.reset();
    relay.restore();
    const want = await expectedVersion(fx.admin, folder);
    await log.waitFor(
      (set) => set.members.map((m) => `${m.host}:${m.ip}`).sort().join(',') === 'b.example.com:10.8.8.8,c.example.com:10.0.0.5,d.example.com:10.0.0.5' && set.version === want,
      `the outage's three changes, version ${want}`,
      15_000,
    );
    assert.equal(sessions.length, 1, 'the same session resumed');
    // The watch re-added and the folder listed once; d read (new), b read (its data watch was replayed).
    assert.deepEqual(counts.ops, { addWatch: 1, getChildren: 1, getData: 2 });

    // The persistent watch is back: an add and a removal cost no listing.
    counts.reset();
    await writeOriginalNode(fx.admin, BASE, 'outage', node('e.example.com'));
    await log.waitFor((set) => set.members.some((m) => m.host === 'e.example.com'), 'e added after the reconnect');
    await fx.admin.remove(`${folder}/c.example.com:80`, -1);
    await log.waitFor((set) => !set.members.some((m) => m.host === 'c.example.com'), 'c removed after the reconnect');
    assert.deepEqual(counts.ops, { getData: 1, exists: 1 });
  });

  test('after a dropped connection a quiet cluster sends nothing; its first change re-adds the watch (addWatch + listing), later changes cost no listing', async () => {
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    const counts = watchRequests(d);
    d.connect({});
    const log = new MemberLog();
    await writeOriginalNode(fx.admin, BASE, 'drop', node('x.example.com'));
    d.watch('drop', log.onMembers);
    await log.waitForKeys(['x.example.com:80']);
    const sessions = d.stats.sessions;
    counts.reset();
    const connection = d.session.current().connection()!.id;
    assert.ok(d.session.current().dropConnection());
    await waitFor(() => d.state === 'connected' && d.session.current().connection()?.id !== connection, 'the reconnect');
    // The folder's children watch and x's data watch stood: restored by the client, nothing to read.
    assert.deepEqual(counts.ops, {});
    await writeOriginalNode(fx.admin, BASE, 'drop', node('y.example.com'));
    await log.waitForKeys(['x.example.com:80', 'y.example.com:80']);
    assert.deepEqual(counts.ops, { addWatch: 1, getChildren: 1, getData: 1 }, 'the children watch fired: the persistent watch re-added, the folder listed');
    counts.reset();
    await writeOriginalNode(fx.admin, BASE, 'drop', node('z.example.com'));
    await log.waitForKeys(['x.example.com:80', 'y.example.com:80', 'z.example.com:80']);
    await fx.admin.setData(`${BASE}/drop/x.example.com:80`, originalNodeBytes(node('x.example.com', '10.4.4.4')), -1);
    await log.waitFor((set) => set.members.some((m) => m.host === 'x.example.com' && m.ip === '10.4.4.4'), 'x\'s data change');
    assert.deepEqual(counts.ops, { getData: 2 });
    assert.equal(d.stats.sessions, sessions, 'the same session');
  });

  test('after a dropped connection a cluster whose children watch was consumed re-adds the watch and lists at once', async () => {
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    const counts = watchRequests(d);
    d.connect({});
    const log = new MemberLog();
    await writeOriginalNode(fx.admin, BASE, 'consumed', node('x.example.com'));
    d.watch('consumed', log.onMembers);
    await log.waitForKeys(['x.example.com:80']);
    // A change through the persistent watch consumes the children watch (not re-armed: no listing).
    await writeOriginalNode(fx.admin, BASE, 'consumed', node('y.example.com'));
    await log.waitForKeys(['x.example.com:80', 'y.example.com:80']);
    counts.reset();
    assert.ok(d.session.current().dropConnection());
    await waitFor(() => (counts.ops.getChildren ?? 0) >= 1, 'the re-list after the reconnect');
    await writeOriginalNode(fx.admin, BASE, 'consumed', node('z.example.com'));
    await log.waitForKeys(['x.example.com:80', 'y.example.com:80', 'z.example.com:80']);
    assert.deepEqual(counts.ops, { addWatch: 1, getChildren: 1, getData: 1 });
  });

  test('after an expiry the new session re-adds the watch, re-converges, and later changes cost no listing', async () => {
    const folder = `${BASE}/expiry`;
    for (const host of ['a', 'b']) await writeOriginalNode(fx.admin, BASE, 'expiry', node(`${host}.example.com`));
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const sessions: string[] = [];
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 1000, operation_timeout_ms: 5000 });
    discoveries.push(d);
    const counts = watchRequests(d);
    d.connect({ onSession: (id) => sessions.push(id) });
    const log = new MemberLog();
    d.watch('expiry', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);

    const witness = `${BASE}/witness-expiry/me.example.com:80`;
    await d.publish('witness-expiry', { host: 'me.example.com', ip: '10.0.0.1', port: 80, metadata: {}, peer: null });
    relay.cut();
    await fx.admin.remove(`${folder}/a.example.com:80`, -1);
    await writeOriginalNode(fx.admin, BASE, 'expiry', node('c.example.com'));
    await waitFor(async () => (await fx.admin.exists(witness)) === null, 'the server to expire the session', 15_000);
    relay.restore();
    await waitFor(() => sessions.length === 2, 'a new session', 15_000);
    await log.waitForKeys(['b.example.com:80', 'c.example.com:80'], 15_000);
    // The kept member's data watch is re-armed through the rewatch queue (its re-read), then a data change on it is seen.
    await waitFor(() => log.latest?.version !== undefined, 'a version again once b was read', 15_000);
    await fx.admin.setData(`${folder}/b.example.com:80`, originalNodeBytes(node('b.example.com', '10.6.6.6')), -1);
    await log.waitFor((set) => set.members.some((m) => m.host === 'b.example.com' && m.ip === '10.6.6.6'), 'b\'s data change on the new session');

    counts.reset();
    await writeOriginalNode(fx.admin, BASE, 'expiry', node('d.example.com'));
    await log.waitForKeys(['b.example.com:80', 'c.example.com:80', 'd.example.com:80']);
    await fx.admin.remove(`${folder}/c.example.com:80`, -1);
    const want = await expectedVersion(fx.admin, folder);
    await log.waitFor((set) => !set.members.some((m) => m.host === 'c.example.com') && set.version === want, `c removed, version ${want}`);
    assert.deepEqual(counts.ops, { getData: 1, exists: 1 });
  });

  test('a server without addWatch (UNIMPLEMENTED, older than 3.6): one probe per session, logged once, every cluster watch goes one-shot and still converges', async () => {
    // ZooKeeper < 3.6 cannot be run here (Debian ships 3.8): the older server is played by answering addWatch
    // as it would, UNIMPLEMENTED and the connection closed; everything else is the real server.
    const { logger, lines } = captureLogger('info');
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE }, logger);
    discoveries.push(d);
    const counts = watchRequests(d, OLDER_SERVER);
    d.connect({});
    await writeOriginalNode(fx.admin, BASE, 'old1', node('p.example.com'));
    await writeOriginalNode(fx.admin, BASE, 'old2', node('q.example.com'));
    const one = new MemberLog();
    const two = new MemberLog();
    d.watch('old1', one.onMembers);
    d.watch('old2', two.onMembers);
    await one.waitForKeys(['p.example.com:80']);
    await two.waitForKeys(['q.example.com:80']);
    // The one-shot path: a change is a listing plus the new child's read.
    await writeOriginalNode(fx.admin, BASE, 'old1', node('r.example.com'));
    await one.waitForKeys(['p.example.com:80', 'r.example.com:80']);
    await fx.admin.remove(`${BASE}/old2/q.example.com:80`, -1);
    await two.waitForKeys([]);
    // Another reconnect does not probe again.
    d.session.current().dropConnection();
    await writeOriginalNode(fx.admin, BASE, 'old2', node('s.example.com'));
    await two.waitForKeys(['s.example.com:80']);
    assert.ok((counts.ops.addWatch ?? 0) <= 2, `addWatch sent ${counts.ops.addWatch} times (at most once per cluster before the first refusal landed)`);
    const before = counts.ops.addWatch ?? 0;
    d.session.current().dropConnection();
    await writeOriginalNode(fx.admin, BASE, 'old1', node('t.example.com'));
    await one.waitForKeys(['p.example.com:80', 'r.example.com:80', 't.example.com:80']);
    assert.equal(counts.ops.addWatch ?? 0, before, 'no addWatch after the refusal');
    const notes = lines().filter((line) => String(line.msg).includes('does not support persistent watches'));
    assert.equal(notes.length, 1, 'logged once');
  });

  test('a server that closes the connection on addWatch before answering: one-shot after MAX_LOSSES_WITH_ADD_WATCH connections, no reconnect loop', async () => {
    const { logger, lines } = captureLogger('info');
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE }, logger);
    discoveries.push(d);
    const counts = watchRequests(d, {
      addWatch: (client, path) => {
        client.dropConnection();
        return Promise.reject(new ZookeeperError('addWatch', String(path), -4, 'CONNECTION_LOSS'));
      },
    });
    d.connect({});
    await writeOriginalNode(fx.admin, BASE, 'closer', node('u.example.com'));
    const log = new MemberLog();
    d.watch('closer', log.onMembers);
    await log.waitForKeys(['u.example.com:80'], 20_000);
    await writeOriginalNode(fx.admin, BASE, 'closer', node('v.example.com'));
    await log.waitForKeys(['u.example.com:80', 'v.example.com:80']);
    assert.equal(counts.ops.addWatch, MAX_LOSSES_WITH_ADD_WATCH);
    assert.equal(lines().filter((line) => String(line.msg).includes('does not support persistent watches')).length, 1);
  });
});
