import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { LoadGenerator, recordResult } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { sleep } from '../../src/lib/deadline.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Chaos 3: session expiry. A daemon frozen (SIGSTOP) past its session
 * timeout finds its session expired when it wakes up; both daemons must
 * build a new session on their own: the reporter registers again, the writer
 * re-reads everything and catches up with what changed while it slept.
 */

const SESSION_TIMEOUT_MS = 1500;

let stack: ChaosStack;

before(async () => {
  // Reporter "b" holds half the members, not two thirds: losing more than half at once would be held by the
  // writer's removal guard (see removal-guard.test.ts), and this test is about the removal itself.
  stack = await ChaosStack.start({ reporters: [2, 2], sessionTimeoutMs: SESSION_TIMEOUT_MS });
});

after(async () => {
  await stack?.stop();
});

test('chaos 3a: a reporter frozen past its session timeout registers again on its own', async (t) => {
  const b = stack.reporters[1]!;
  const mine = b.backends.map((backend) => `${b.host}:${backend.port}`);
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');

  b.process.signal('SIGSTOP');
  // The ensemble expires the session and deletes its ephemerals; the writer drops them gracefully.
  await waitFor(async () => (await stack.registrations()).every((name) => !mine.includes(name)), 'the frozen reporter\'s registrations to expire', 30_000);
  await stack.waitConverged(stack.expectedMembers().filter((member) => !mine.includes(member)));
  b.process.signal('SIGCONT');
  const wokeAt = performance.now();
  await stack.waitConverged();
  const recoveryMs = performance.now() - wokeAt;
  const report = await load.stop();

  assert.ok(b.process.alive);
  assert.ok(b.process.logged(/expired; starting a new session/).length >= 1, 'the reporter saw its session expire');
  const lost = await stack.lost();
  recordResult({ scenario: '3a reporter session expired', requests: report.sent, failed: report.failed, lost, recoveryMs, note: 'from SIGCONT to registered and routed again' }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
});

test('chaos 3b: a writer frozen past its session timeout catches up with changes made meanwhile', async (t) => {
  const [a, b] = [stack.reporters[0]!, stack.reporters[1]!];
  const before = stack.expectedMembers();
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');

  stack.writer.signal('SIGSTOP');
  // Meanwhile: a port turns unhealthy, another is added.
  b.backends[1]!.healthy = false;
  await stack.addBackend(a);
  const expected = stack.expectedMembers();
  await waitFor(async () => (await stack.registrations()).join(',') === expected.join(','), 'the reporters to apply both changes');
  await sleep(SESSION_TIMEOUT_MS * 2);
  assert.deepEqual(await stack.routed(), before, 'HAProxy serves on, unchanged, while the writer sleeps');
  stack.writer.signal('SIGCONT');
  const wokeAt = performance.now();
  await stack.waitConverged(expected);
  const recoveryMs = performance.now() - wokeAt;
  const report = await load.stop();

  assert.ok(stack.writer.alive);
  assert.ok(stack.writer.logged(/expired; starting a new session/).length >= 1, 'the writer saw its session expire');
  const lost = await stack.lost(expected);
  recordResult({ scenario: '3b writer session expired', requests: report.sent, failed: report.failed, lost, recoveryMs, note: 'from SIGCONT to both changes in HAProxy' }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
});
