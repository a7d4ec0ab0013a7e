import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import {
  captureLogger,
  connectClient,
  createDiscovery,
  MemberLog,
  mkdirs,
  originalNodeBytes,
  TcpRelay,
  writeOriginalNode,
  zookeeperFixture,
} from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { ConnectionState, OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';
import type { SessionState } from '../../src/discovery/types.js';
import { LighthouseError } from '../../src/lib/errors.js';
import { sleep } from '../../src/lib/deadline.js';

const BASE = '/lighthouse/services';
const node = (host: string, port: number, ip = '10.0.0.5', metadataJson = '{}') => ({
  host,
  ip,
  port,
  metadataJson,
  peer: { ip, name: host, port: 1024 },
});

describe('zookeeper discovery: watching clusters', () => {
  const fx = zookeeperFixture();
  const { discoveries, relays } = fx;


  const discovery = (config: Record<string, unknown> = {}, logger = captureLogger().logger): ZookeeperDiscovery => {
    const created = createDiscovery({ hosts: fx.zk.hosts, path: BASE, session_timeout_ms: 4000, ...config }, logger);
    discoveries.push(created);
    created.connect();
    return created;
  };

  test('reports nodes written in the original byte format, then adds, data changes and removals', async (t) => {
    const web1 = await writeOriginalNode(fx.admin, BASE, 'web', node('web1.example.com', 8000, '10.0.0.5', '{"version": "1.2"}'));
    const d = discovery();
    const log = new MemberLog();
    d.watch('web', log.onMembers);

    const first = await log.waitForKeys(['web1.example.com:8000']);
    assert.deepEqual(first.members[0], {
      host: 'web1.example.com',
      ip: '10.0.0.5',
      port: 8000,
      metadata: { version: '1.2' },
      peer: { ip: '10.0.0.5', name: 'web1.example.com', port: 1024 },
    });
    assert.equal(first.cluster, 'web');
    assert.deepEqual(first.rejected, []);

    const latencies: number[] = [];
    const timed = async (change: () => Promise<unknown>, keys: string[], check?: () => boolean): Promise<void> => {
      const seen = log.sets.length;
      await change();
      const start = performance.now();
      await log.waitFor((set) => log.sets.length > seen && set.members.map((m) => `${m.host}:${m.port}`).sort().join() === [...keys].sort().join() && (check?.() ?? true), `members ${keys.join()}`);
      latencies.push(log.times.at(-1)! - start);
    };

    await timed(() => writeOriginalNode(fx.admin, BASE, 'web', node('web2.example.com', 8000, '10.0.0.6')), ['web1.example.com:8000', 'web2.example.com:8000']);
    await timed(
      () => fx.admin.setData(web1, originalNodeBytes(node('web1.example.com', 8000, '10.0.0.5', '{"version": "1.3"}')), -1),
      ['web1.example.com:8000', 'web2.example.com:8000'],
      () => log.latest!.members.find((m) => m.host === 'web1.example.com')?.metadata.version === '1.3',
    );
    await timed(() => fx.admin.remove(web1, -1), ['web2.example.com:8000']);
    for (let i = 3; i < 13; i += 1) {
      await timed(() => writeOriginalNode(fx.admin, BASE, 'web', node(`web${i}.example.com`, 8000)), [...log.keys()!, `web${i}.example.com:8000`]);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    t.diagnostic(`watch latency (change acknowledged -> onMembers): median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms over ${sorted.length} changes`);

    // Rewriting the same bytes changes no member: the set comes again only
    // with its new version (the zxid of the write), which writers acknowledge.
    const before = log.sets.length;
    const previous = log.latest!;
    const web2 = `${BASE}/web/web2.example.com:8000`;
    const written = await fx.admin.setData(web2, originalNodeBytes(node('web2.example.com', 8000, '10.0.0.6')), -1);
    const rewritten = await log.waitFor((set) => set.version !== previous.version, 'the unchanged rewrite\'s new version');
    assert.deepEqual(rewritten.members, previous.members);
    assert.equal(rewritten.version, written.mzxid.readBigInt64BE(0).toString());
    await fx.admin.setData(`${BASE}/web/web3.example.com:8000`, originalNodeBytes(node('web3.example.com', 8000, '10.0.0.9')), -1);
    await log.waitFor((set) => set.members.some((m) => m.host === 'web3.example.com' && m.ip === '10.0.0.9'), 'web3 ip change');
    assert.equal(log.sets.length, before + 2, 'one set for the rewrite (new version), one for the change');
  });

  test('a cluster folder that does not exist yet is picked up when created, and a deleted folder empties the cluster', async () => {
    const d = discovery();
    const log = new MemberLog();
    d.watch('late', log.onMembers);
    await log.waitForKeys([]);

    await writeOriginalNode(fx.admin, BASE, 'late', node('late1.example.com', 9000));
    await log.waitForKeys(['late1.example.com:9000']);

    await fx.admin.remove(`${BASE}/late/late1.example.com:9000`, -1);
    await log.waitForKeys([]);
    await fx.admin.remove(`${BASE}/late`, -1);
    // Back to an exists watch: the folder coming back is noticed again.
    await writeOriginalNode(fx.admin, BASE, 'late', node('late2.example.com', 9000));
    await log.waitForKeys(['late2.example.com:9000']);

    // Deleting the folder with its last member: the members become empty (a real change, reported).
    const n = log.sets.length;
    await fx.admin.multi([
      { op: 'remove', path: `${BASE}/late/late2.example.com:9000`, version: -1 },
      { op: 'remove', path: `${BASE}/late`, version: -1 },
    ]);
    await log.waitFor((set) => log.sets.length > n && set.members.length === 0, 'empty set after folder deletion');
  });

  test('a malformed node is rejected (logged once per version) while the rest of the cluster still updates', async () => {
    const capture = captureLogger();
    const d = discovery({}, capture.logger);
    const good = await writeOriginalNode(fx.admin, BASE, 'mixed', node('good1.example.com', 80));
    const bad = await writeOriginalNode(fx.admin, BASE, 'mixed', originalNodeBytes(node('evil.example.com', 80, '10.0.0.1\n  server x 6.6.6.6:80')), 'evil.example.com:80');
    await writeOriginalNode(fx.admin, BASE, 'mixed', Buffer.from('not json'), 'junk:1');
    const log = new MemberLog();
    d.watch('mixed', log.onMembers);

    const set = await log.waitForKeys(['good1.example.com:80']);
    assert.deepEqual(set.rejected.map((r) => r.znode).sort(), [bad, `${BASE}/mixed/junk:1`].sort());
    assert.match(set.rejected.find((r) => r.znode === bad)!.reason, /ip/);

    await writeOriginalNode(fx.admin, BASE, 'mixed', node('good2.example.com', 80));
    await log.waitForKeys(['good1.example.com:80', 'good2.example.com:80']);
    await fx.admin.setData(good, originalNodeBytes(node('good1.example.com', 80, '10.0.0.7')), -1);
    await log.waitFor((s) => s.members.some((m) => m.ip === '10.0.0.7'), 'good1 data change');

    const warnings = (): number => capture.lines().filter((line) => line.znode === bad).length;
    assert.equal(warnings(), 1, 'three updates of the cluster, one warning for the bad node');
    // A new version of the bad node (still bad) is worth one more line.
    await fx.admin.setData(bad, Buffer.from('{"ip": "10.0.0.1", "port": 99999}'), -1);
    await waitFor(() => warnings() === 2, 'a warning for the new version of the bad node');
    // Fixed: it joins the members.
    await fx.admin.setData(bad, originalNodeBytes(node('evil.example.com', 80, '10.0.0.8')), -1);
    const fixed = await log.waitForKeys(['evil.example.com:80', 'good1.example.com:80', 'good2.example.com:80']);
    assert.deepEqual(fixed.rejected.map((r) => r.znode), [`${BASE}/mixed/junk:1`]);
  });

  test('two znodes naming the same host:port: only one becomes a member', async () => {
    const d = discovery();
    await writeOriginalNode(fx.admin, BASE, 'dupe', node('a.example.com', 80));
    await writeOriginalNode(fx.admin, BASE, 'dupe', originalNodeBytes(node('a.example.com', 80, '6.6.6.6')), 'zz.example.com:80');
    const log = new MemberLog();
    d.watch('dupe', log.onMembers);
    const set = await log.waitForKeys(['a.example.com:80']);
    assert.equal(set.members[0]!.ip, '10.0.0.5', 'the znode whose name matches wins');
    assert.deepEqual(set.rejected.map((r) => r.znode), [`${BASE}/dupe/zz.example.com:80`]);
  });

  test('requests per membership change stay constant, independent of cluster size (mntr zk_packets_received)', async (t) => {
    // Earlier tests' discoveries stay open (and probing) until after(); only this one watches these clusters.
    // A long session timeout makes liveness probes rare; the ones sent are subtracted anyway.
    const d = discovery({ session_timeout_ms: 60_000 });
    const results: Record<string, number[]> = {};
    for (const size of [10, 200]) {
      const cluster = `size${size}`;
      await mkdirs(fx.admin, `${BASE}/${cluster}`);
      await Promise.all(Array.from({ length: size }, (_, i) => fx.admin.create(`${BASE}/${cluster}/n${i}.example.com:80`, originalNodeBytes(node(`n${i}.example.com`, 80)), OPEN_ACL, false)));
      const log = new MemberLog();
      d.watch(cluster, log.onMembers);
      await log.waitFor((set) => set.members.length === size, `${size} members`);

      const measure = async (change: () => Promise<unknown>, done: () => boolean, what: string): Promise<number> => {
        // Every open discovery's liveness probes reach the same server: count them all.
        const allProbes = (): number => discoveries.reduce((sum, other) => sum + other.stats.probes, 0);
        const before = await fx.zk.packetsReceived();
        const probes = allProbes();
        await change(); // one request from the test's own client
        await waitFor(done, what, 10_000, 2);
        const afterPackets = await fx.zk.packetsReceived();
        // minus: the mntr that read the second figure, the test's change, probes meanwhile
        return afterPackets - before - 1 - 1 - (allProbes() - probes);
      };
      const added = `${BASE}/${cluster}/new.example.com:80`;
      const add = await measure(
        () => fx.admin.create(added, originalNodeBytes(node('new.example.com', 80)), OPEN_ACL, false),
        () => log.latest!.members.length === size + 1,
        'the added node',
      );
      const change = await measure(
        () => fx.admin.setData(added, originalNodeBytes(node('new.example.com', 80, '10.9.9.9')), -1),
        () => log.latest!.members.some((m) => m.ip === '10.9.9.9'),
        'the changed node',
      );
      const remove = await measure(() => fx.admin.remove(added, -1), () => log.latest!.members.length === size, 'the removed node');
      results[size] = [add, change, remove];
      t.diagnostic(`cluster of ${size}: requests for add ${add}, data change ${change}, remove ${remove}`);
    }
    for (const [size, [add, change, remove]] of Object.entries(results)) {
      // Persistent watch (ZooKeeper 3.6+): add: the new child's data; change: its data; remove: exists(folder)
      // for the pzxid. No listing (the one-shot path cost add 2: the children re-read + the data).
      // One request of slack each: a probe sent just before the first reading arrives after it.
      assert.ok(add! <= 2, `add in a cluster of ${size} cost ${add} requests`);
      assert.ok(change! <= 2, `data change in a cluster of ${size} cost ${change} requests`);
      assert.ok(remove! <= 2, `removal in a cluster of ${size} cost ${remove} requests`);
    }
  });

  test('after ZooKeeper is stopped and restarted on the same data dir, watches still work; ops fail while it is down', async (t) => {
    const states: SessionState[] = [];
    const d = createDiscovery({ hosts: fx.zk.hosts, path: BASE, session_timeout_ms: 8000, operation_timeout_ms: 500 });
    discoveries.push(d);
    d.connect({ onStateChange: (state) => states.push(state) });
    const web = `${BASE}/restart/r1.example.com:80`;
    await mkdirs(fx.admin, `${BASE}/restart`);
    await fx.admin.create(web, originalNodeBytes(node('r1.example.com', 80)), OPEN_ACL, false);
    const log = new MemberLog();
    d.watch('restart', log.onMembers);
    await log.waitForKeys(['r1.example.com:80']);
    const setsBefore = log.sets.length;

    await fx.zk.stopServer(1);
    await waitFor(() => d.state === 'disconnected', 'the discovery to notice');
    await assert.rejects(d.publish('restart', { host: 'r9.example.com', ip: '10.0.0.9', port: 80, metadata: {}, peer: null }), (error: unknown) => {
      assert.ok(error instanceof LighthouseError);
      assert.equal(error.code, 'LH_ZK_TIMEOUT');
      assert.match(error.message, /\/lighthouse\/services\/restart\/r9\.example\.com:80/);
      return true;
    });
    assert.equal(log.sets.length, setsBefore, 'nothing is reported while ZooKeeper is away');

    await fx.zk.restartServer(1);
    await waitFor(() => d.state === 'connected', 'the discovery to reconnect', 15_000);
    // The test's plain client has no handshake deadline: one that connected while the server was
    // starting can wait for an answer forever (the library defect the liveness monitor covers).
    const reconnected = await waitFor(() => fx.admin.connectionState() === ConnectionState.CONNECTED, 'the test client', 3000).catch(() => false);
    if (!reconnected) {
      t.diagnostic(`test client stuck in connection state ${fx.admin.connectionState()} after the restart; replacing it`);
      await fx.admin.close();
      fx.admin = await connectClient(fx.zk.connectString);
    }
    await writeOriginalNode(fx.admin, BASE, 'restart', node('r2.example.com', 80));
    await log.waitForKeys(['r1.example.com:80', 'r2.example.com:80']);
    await fx.admin.setData(web, originalNodeBytes(node('r1.example.com', 80, '10.1.2.3')), -1);
    await log.waitFor((set) => set.members.some((m) => m.ip === '10.1.2.3'), 'data change after restart');
    assert.ok(states.includes('disconnected'));
    assert.equal(states.at(-1), 'connected');
    // The restarted server restored the session from its log: this was the same-session path (one children re-read).
    assert.equal(d.stats.sessions, 1);
    assert.equal(d.stats.expiries, 0);
  });

  test('session expiry: a new session is built, watches are re-armed and everything is re-read (data of known members through the rewatch queue)', async (t) => {
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const sessions: string[] = [];
    const states: SessionState[] = [];
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 1000, operation_timeout_ms: 1000 });
    discoveries.push(d);
    d.connect({ onSession: (id) => sessions.push(id), onStateChange: (state) => states.push(state) });

    const a = await writeOriginalNode(fx.admin, BASE, 'expiry', node('a.example.com', 80));
    const b = await writeOriginalNode(fx.admin, BASE, 'expiry', node('b.example.com', 80));
    const log = new MemberLog();
    d.watch('expiry', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    await waitFor(() => sessions.length === 1, 'the first session');
    // Our own ephemeral is the witness of the server expiring the session.
    const mine = `${BASE}/witness/me.example.com:80`;
    await d.publish('witness', { host: 'me.example.com', ip: '10.0.0.1', port: 80, metadata: {}, peer: null });

    relay.cut();
    const cutAt = performance.now();
    await fx.admin.remove(a, -1);
    await fx.admin.setData(b, originalNodeBytes(node('b.example.com', 80, '10.2.2.2')), -1);
    await writeOriginalNode(fx.admin, BASE, 'expiry', node('c.example.com', 80));
    const setsDuringOutage = log.sets.length;
    await waitFor(async () => (await fx.admin.exists(mine)) === null, 'the server to expire the session', 15_000);
    t.diagnostic(`session expired on the server ${(performance.now() - cutAt).toFixed(0)} ms after the cut (timeout 1000 ms)`);
    assert.equal(log.sets.length, setsDuringOutage, 'the last known members are kept while disconnected');

    relay.restore();
    await waitFor(() => sessions.length === 2, 'a new session', 15_000);
    assert.notEqual(sessions[1], sessions[0]);
    assert.ok(states.includes('expired'));
    // On the new session the listing gives the removal and the addition at once; b's data (changed in
    // place meanwhile) arrives when its data watch is re-armed through the session's RewatchQueue.
    await log.waitForKeys(['b.example.com:80', 'c.example.com:80']);
    await log.waitFor((s) => s.members.find((m) => m.host === 'b.example.com')?.ip === '10.2.2.2', 'b data changed during the outage');
    // Watches are armed in the new session: children and data.
    await writeOriginalNode(fx.admin, BASE, 'expiry', node('d.example.com', 80));
    await log.waitForKeys(['b.example.com:80', 'c.example.com:80', 'd.example.com:80']);
    await fx.admin.setData(b, originalNodeBytes(node('b.example.com', 80, '10.3.3.3')), -1);
    await log.waitFor((s) => s.members.some((m) => m.ip === '10.3.3.3'), 'data change in the new session');
    assert.equal(d.stats.expiries, 1);
  });

  test('while the ensemble is unreachable, connect() does not throw and keeps retrying', async () => {
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    relay.cut();
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 2000 });
    discoveries.push(d);
    d.connect();
    const log = new MemberLog();
    d.watch('web', log.onMembers);
    await sleep(300);
    assert.equal(d.state, 'connecting');
    assert.equal(log.sets.length, 0);
    relay.restore();
    await waitFor(() => d.state === 'connected', 'the session once reachable', 10_000);
    await log.waitFor((set) => set.members.length > 0, 'the members once connected');
  });
});
