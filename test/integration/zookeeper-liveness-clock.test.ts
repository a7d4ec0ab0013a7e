import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLogger, createDiscovery, ZookeeperCluster, onFollower, serverOf as connectedServer } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';

const BASE = '/lh/liveness-clock';
const SESSION_TIMEOUT_MS = 3000;
/** An NTP step of the wall clock backwards (a VM restored, a clock that ran fast corrected). */
const CLOCK_STEP_MS = 3_600_000;

describe('zookeeper liveness: the wall clock stepping backwards', () => {
  let zk: ZookeeperCluster;
  let d: ZookeeperDiscovery | undefined;
  const realNow = Date.now;
  /** the wall clock's step; Date.now is replaced before the client exists, as a clock step reaches every reader */
  let stepMs = 0;

  before(async () => {
    zk = await ZookeeperCluster.start({ servers: 3 });
  });

  after(async () => {
    Date.now = realNow;
    await d?.close().catch(() => undefined);
    await zk?.stop();
  });

  test('a server frozen after the wall clock stepped back an hour is still left before the session expires', async () => {
    Date.now = () => realNow() - stepMs;
    const capture = captureLogger('warn');
    d = createDiscovery({ hosts: zk.hosts, path: BASE, session_timeout_ms: SESSION_TIMEOUT_MS, operation_timeout_ms: 1000 }, capture.logger);
    d.connect({ onStateChange: () => undefined });
    const discovery = d;
    const frozen = await onFollower(zk, discovery);
    const serverOf = (): number | undefined => connectedServer(zk, discovery);
    const sessionId = discovery.session.current().sessionId();
    // The connection is silent: the liveness probe runs, so it has a last probe time.
    const probes = discovery.stats.probes;
    await waitFor(() => discovery.stats.probes > probes + 1, 'liveness probes on the idle connection');

    stepMs = CLOCK_STEP_MS;
    zk.pause(frozen);
    await waitFor(() => (serverOf() !== undefined && serverOf() !== frozen ? serverOf() : undefined), 'the client to move to another server', 15_000, 5);
    assert.ok(discovery.stats.drops >= 1, 'the liveness probe dropped the frozen connection');
    assert.ok(discovery.session.current().sessionId().equals(sessionId), 'the same session');
    assert.equal(discovery.stats.expiries, 0);
    zk.resume(frozen);
  });
});
