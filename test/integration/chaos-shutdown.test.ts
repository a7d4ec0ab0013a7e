import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { haproxyMasters, LoadGenerator, recordResult } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Chaos 10: clean shutdown (SIGTERM) and restart of each daemon under load.
 * The writer leaves HAProxy serving and, restarted, adopts it instead of
 * starting a second one; the reporter removes its registrations at once
 * (the session timeout here is long, so an expiry cannot be mistaken for
 * a deregistration).
 */

const SESSION_TIMEOUT_MS = 30_000;

let stack: ChaosStack;

before(async () => {
  // Reporter "b" (stopped in 10b) holds half the members, not two thirds: losing more than half at once would be
  // held by the writer's removal guard (see removal-guard.test.ts), and 10b is about the removal itself.
  stack = await ChaosStack.start({ reporters: [2, 2], sessionTimeoutMs: SESSION_TIMEOUT_MS });
});

after(async () => {
  await stack?.stop();
});

const masters = (): Promise<number[]> => haproxyMasters(stack.dir.path);

test('chaos 10a: a writer stopped with SIGTERM leaves HAProxy serving; restarted, it adopts it and catches up', async (t) => {
  const master = await stack.masterPid();
  assert.deepEqual(await masters(), [master]);
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');

  stack.writer.signal('SIGTERM');
  const exit = await stack.writer.waitExit();
  assert.deepEqual(exit, { code: 0, signal: null }, 'a clean exit');
  const sentBefore = load.report.sent;
  await waitFor(() => load.report.sent > sentBefore + 100, 'requests while no writer runs');
  assert.equal(load.report.failed, 0, 'HAProxy kept serving without the writer');

  // A change while no writer runs, then a new writer.
  stack.reporters[1]!.backends[0]!.healthy = false;
  const expected = stack.expectedMembers();
  await waitFor(async () => (await stack.registrations()).join(',') === expected.join(','), 'the reporter to deregister the unhealthy port');
  const restartedAt = performance.now();
  stack.restartWriter();
  await stack.waitConverged(expected);
  const recoveryMs = performance.now() - restartedAt;
  const report = await load.stop();

  assert.ok(stack.writer.logged(/adopted the running HAProxy master/).length === 1, 'the new writer adopted HAProxy');
  assert.equal(await stack.masterPid(), master, 'the same HAProxy master');
  assert.deepEqual(await masters(), [master], 'no second HAProxy');
  const lost = await stack.lost(expected);
  recordResult({ scenario: '10a writer SIGTERM + restart', requests: report.sent, failed: report.failed, lost, recoveryMs, note: 'from restart to the change made meanwhile in HAProxy' }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
  stack.reporters[1]!.backends[0]!.healthy = true;
  await stack.waitConverged();
});

test('chaos 10b: a reporter stopped with SIGTERM deregisters at once; restarted, it registers again', async (t) => {
  const b = stack.reporters[1]!;
  const mine = b.backends.map((backend) => `${b.host}:${backend.port}`);
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');

  b.process.signal('SIGTERM');
  const exit = await b.process.waitExit();
  assert.deepEqual(exit, { code: 0, signal: null }, 'a clean exit');
  // Checked the moment it exited: an expiry would take the 30 s session timeout.
  const left = (await stack.registrations()).filter((name) => mine.includes(name));
  assert.deepEqual(left, [], 'its registrations are gone when it has exited');
  await stack.waitConverged();
  const restartedAt = performance.now();
  stack.restartReporter(b);
  await stack.waitConverged();
  const recoveryMs = performance.now() - restartedAt;
  const report = await load.stop();
  const lost = await stack.lost();
  recordResult({ scenario: '10b reporter SIGTERM + restart', requests: report.sent, failed: report.failed, lost, recoveryMs, note: 'from restart to registered and routed' }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
});
