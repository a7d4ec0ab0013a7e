import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { captureLogger, connectClient, createDiscovery, MemberLog, originalNodeBytes, writeOriginalNode, ZookeeperCluster, onFollower, serverOf as connectedServer } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';
import type { SessionState } from '../../src/discovery/types.js';
import { sleep } from '../../src/lib/deadline.js';

const BASE = '/lh/failover';
const SESSION_TIMEOUT_MS = 3000;

describe('zookeeper discovery: liveness in a 3-server ensemble', () => {
  let zk: ZookeeperCluster;
  let d: ZookeeperDiscovery | undefined;
  let admin: ZkClient | undefined;

  before(async () => {
    zk = await ZookeeperCluster.start({ servers: 3 });
  });

  after(async () => {
    await d?.close().catch(() => undefined);
    await admin?.close();
    await zk?.stop();
  });

  test('a frozen server (SIGSTOP) is left for another one before the session expires: session and ephemeral node survive', async (t) => {
    const states: SessionState[] = [];
    const capture = captureLogger(process.env.LH_TEST_DEBUG ? 'debug' : 'warn');
    d = createDiscovery({ hosts: zk.hosts, path: BASE, session_timeout_ms: SESSION_TIMEOUT_MS, operation_timeout_ms: 1000 }, capture.logger);
    d.connect({ onStateChange: (state) => states.push(state) });
    const discovery = d;
    const frozen = await onFollower(zk, discovery);
    const serverOf = (): number | undefined => connectedServer(zk, discovery);
    const sessionId = discovery.session.current().sessionId();
    const me = { host: 'me.example.com', ip: '10.0.0.1', port: 80, metadata: { v: 1 }, peer: null };
    await discovery.publish('svc', me);
    const log = new MemberLog();
    discovery.watch('watched', log.onMembers);
    await log.waitForKeys([]);

    const others = zk.servers.filter((server) => server.id !== frozen).map((server) => `127.0.0.1:${server.clientPort}`);
    admin = await connectClient(others.join(','));

    // The connection is busy when the server freezes (a deploy's notifications): the probe goes only to a
    // silent connection, so it must start once the notifications stop, and still in time.
    const busy = await writeOriginalNode(admin, BASE, 'busy', { host: 'b.example.com', ip: '10.0.1.0', port: 80 });
    const busyLog = new MemberLog();
    discovery.watch('busy', busyLog.onMembers);
    await busyLog.waitForKeys(['b.example.com:80']);
    let change = 0;
    const churn = setInterval(() => {
      change += 1;
      void admin?.setData(busy, originalNodeBytes({ host: 'b.example.com', ip: `10.0.1.${change % 250}`, port: 80 }), -1).catch(() => undefined);
    }, 100);
    t.after(() => clearInterval(churn));
    await waitFor(() => busyLog.sets.length >= 5, 'notifications flowing');
    const probesBefore = discovery.stats.probes;

    zk.pause(frozen);
    const pausedAt = performance.now();
    const moved = await waitFor(() => (serverOf() !== undefined && serverOf() !== frozen ? serverOf() : undefined), 'the client to move to another server', 15_000, 5);
    const failoverMs = performance.now() - pausedAt;
    clearInterval(churn);
    assert.ok(discovery.stats.probes > probesBefore, 'probed once the connection fell silent');
    if (process.env.LH_TEST_DEBUG) for (const line of capture.lines()) t.diagnostic(`${String(line.time)} ${String(line.msg)} ${JSON.stringify(line.err ?? '')}`);
    t.diagnostic(`moved from server ${frozen} to server ${moved} ${failoverMs.toFixed(0)} ms after SIGSTOP (session timeout ${SESSION_TIMEOUT_MS} ms)`);
    assert.ok(discovery.session.current().sessionId().equals(sessionId), 'the same session');
    assert.ok(discovery.stats.drops >= 1, 'the liveness probe dropped the frozen connection');
    assert.ok(capture.lines().some((line) => /probe unanswered/.test(String(line.msg))), 'the drop is logged with its reason');

    // Let more than a session timeout pass with the server still frozen: the session must outlive it.
    await sleep(SESSION_TIMEOUT_MS * 1.5);
    const path = `${BASE}/svc/me.example.com:80`;
    const stat = await admin.exists(path);
    assert.ok(stat, 'the ephemeral node survived');
    assert.ok(stat.ephemeralOwner.equals(sessionId), 'still owned by the original session');
    assert.equal(discovery.stats.sessions, 1);
    assert.equal(discovery.stats.expiries, 0);
    assert.ok(!states.includes('expired'));

    // The session is fully usable: an update (a replace in one multi) and a watch event both go through.
    await discovery.publish('svc', { ...me, metadata: { v: 2 } });
    const updated = await admin.getData(path);
    assert.match(updated.data.toString('utf8'), /\\"v\\": 2/, 'updated');
    assert.ok(updated.stat.ephemeralOwner.equals(sessionId), 'by the same session');
    await writeOriginalNode(admin, BASE, 'watched', { host: 'w.example.com', ip: '10.0.0.2', port: 80 });
    await log.waitForKeys(['w.example.com:80']);
    await admin.setData(`${BASE}/watched/w.example.com:80`, originalNodeBytes({ host: 'w.example.com', ip: '10.0.0.3', port: 80 }), -1);
    await log.waitFor((set) => set.members[0]?.ip === '10.0.0.3', 'a data change after failover');
  });
});
