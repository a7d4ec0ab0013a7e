import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/wait-for.js';
import { atLeast, parseStrictJson } from '../support/strict-json.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * The JSON log lines of a writer and a reporter, as a log pipeline reads
 * them: each key once, level names, ISO times; an emptied cluster is an
 * error; a clean stop says nothing worse than info.
 */

let stack: ChaosStack;

before(async () => {
  // No removal guard: the drop to 0 members must reach HAProxy (a held drop is the guard's warning instead).
  stack = await ChaosStack.start({ reporters: [1], clusterExtra: ['removal_guard:', '  min_members: 0', '  panic_threshold: 0'] });
});

after(async () => {
  await stack?.stop();
});

const daemons = () => [stack.writer, ...stack.reporters.map((reporter) => reporter.process)];

test('every log line is strict JSON: each key once, a level name, an ISO 8601 time', () => {
  const problems: string[] = [];
  for (const daemon of daemons()) {
    assert.ok(daemon.raw.some((line) => line.includes('checking ports') || line.includes('now has')), `${daemon.kind} logged its work: ${daemon.tail(5)}`);
    for (const line of daemon.raw) {
      try {
        const entry = parseStrictJson(line) as { level?: unknown; time?: unknown };
        if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(String(entry.level))) problems.push(`${daemon.kind}: level ${String(entry.level)}: ${line}`);
        if (typeof entry.time !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(entry.time)) problems.push(`${daemon.kind}: time ${String(entry.time)}: ${line}`);
      } catch (error) {
        problems.push(`${daemon.kind}: ${(error as Error).message}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('a cluster dropping to 0 members is logged at error with LH_CLUSTER_EMPTY', async () => {
  const backend = stack.reporters[0]!.backends[0]!;
  const from = stack.writer.lines.length;
  backend.healthy = false;
  // From here on: a cluster whose members had not arrived yet also "has 0 members" at start (info: nothing was lost).
  const line = await waitFor(() => stack.writer.lines.slice(from).find((entry) => /now has 0 members/.test(String(entry.msg))), 'the writer to log the cluster emptied', 30_000);
  assert.equal(line.level, 'error', JSON.stringify(line));
  assert.equal(line.code, 'LH_CLUSTER_EMPTY');
  backend.healthy = true;
  await stack.waitConverged();
  const back = stack.writer.lines.filter((entry) => /now has 1 members/.test(String(entry.msg))).at(-1);
  assert.equal(back?.level, 'info', 'members coming back is info');
});

test('a clean stop (SIGTERM) logs nothing at warn or above, and exits 0', async () => {
  for (const daemon of [...stack.reporters.map((reporter) => reporter.process), stack.writer]) {
    const from = daemon.lines.length;
    daemon.signal('SIGTERM');
    assert.deepEqual(await daemon.waitExit(), { code: 0, signal: null }, `${daemon.kind} exits cleanly`);
    // Let the pipes drain: the exit can arrive before the last lines.
    await waitFor(() => daemon.lines.slice(from).some((entry) => /stopped|stopping/.test(String(entry.msg))), `${daemon.kind}: its stop logged`, 5_000);
    const loud = daemon.lines.slice(from).filter((entry) => atLeast(entry, 'warn'));
    assert.deepEqual(loud, [], `${daemon.kind} stop: ${daemon.tail(15)}`);
  }
});
