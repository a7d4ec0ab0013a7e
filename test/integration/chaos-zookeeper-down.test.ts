import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { LONG, LoadGenerator, recordResult } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { sleep } from '../../src/lib/deadline.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Chaos 2: ZooKeeper entirely down for longer than the session timeout
 * (seconds in `npm test`, minutes with CHAOS_LONG=1), under load. Nothing is
 * purged meanwhile; changes made during the outage (a port turning
 * unhealthy, a port added to a service file) are all reflected once
 * ZooKeeper is back, and every registration exists again.
 */

const SESSION_TIMEOUT_MS = 1500;
const OUTAGE_MS = LONG ? 150_000 : 3 * SESSION_TIMEOUT_MS;

let stack: ChaosStack;

before(async () => {
  stack = await ChaosStack.start({ reporters: [1, 2], sessionTimeoutMs: SESSION_TIMEOUT_MS });
});

after(async () => {
  await stack?.stop();
});

test(`chaos 2: ZooKeeper down for ${OUTAGE_MS / 1000} s: nothing purged, everything reconciled when it returns`, { timeout: OUTAGE_MS + 120_000 }, async (t) => {
  const before = stack.expectedMembers();
  const config = await stack.haproxyConfig();
  const load = new LoadGenerator(stack.webPort, { pauseMs: LONG ? 50 : 10 });
  await waitFor(() => load.report.sent > 20, 'some load before the outage');

  await stack.zk.stopServer(1);
  const downAt = performance.now();
  await stack.writer.waitForLog((line) => /keeping the last known members/.test(String(line.msg)), 'the writer to notice the outage');

  // Changes while ZooKeeper is away: one port turns unhealthy, one port is added to a service file.
  const [a, b] = [stack.reporters[0]!, stack.reporters[1]!];
  b.backends[1]!.healthy = false;
  const added = await stack.addBackend(a);
  // ZooKeeper restarted from its data dir keeps sessions alive (their timers restart), so
  // this measures reconnection; expired sessions are chaos 3.

  // Midway and at the end of the outage HAProxy still routes to exactly the members from before.
  await sleep(Math.max(0, OUTAGE_MS - (performance.now() - downAt)) / 2);
  assert.deepEqual(await stack.routed(), before, 'no member purged during the outage');
  await sleep(Math.max(0, OUTAGE_MS - (performance.now() - downAt)));
  assert.deepEqual(await stack.routed(), before, 'no member purged during the outage');
  assert.equal(await stack.haproxyConfig(), config, 'the config file is untouched during the outage');
  assert.ok(stack.writer.alive && a.process.alive && b.process.alive, 'no daemon exited');

  const restartAt = performance.now();
  await stack.zk.restartServer(1);
  const servingAt = performance.now();
  // The test's own client has no liveness probe: one that connected while the JVM was starting may wait forever.
  await stack.reconnectAdmin();
  const expected = stack.expectedMembers();
  assert.ok(expected.includes(`a.test:${added.port}`) && !expected.includes(`b.test:${b.backends[1]!.port}`));
  await stack.waitConverged(expected);
  const recoveryMs = performance.now() - servingAt;
  const report = await load.stop();
  const lost = await stack.lost();
  const expired = [a, b].filter((reporter) => reporter.process.logged(/expired; starting a new session/).length > 0).length;
  recordResult(
    {
      scenario: `2 ZooKeeper down ${Math.round(OUTAGE_MS / 1000)} s`,
      requests: report.sent,
      failed: report.failed,
      lost,
      recoveryMs,
      note: `from ZooKeeper serving again to both changes in HAProxy; restart took ${Math.round(servingAt - restartAt)} ms; ${expired} reporter session(s) expired`,
    },
    (message) => t.diagnostic(message),
  );
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
});
