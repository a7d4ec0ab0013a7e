import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RewatchQueue, REWATCH_IN_FLIGHT, REWATCH_MAX_JITTER_MS } from '../../src/discovery/zookeeper/rewatch-queue.js';
import { waitFor } from '../support/wait-for.js';

test('the start delay is drawn within a quarter of the session timeout, capped', () => {
  const draws = [0, 0.5, 0.999];
  const delays = draws.map((r) => {
    const queue = new RewatchQueue(() => 100_000, () => r);
    queue.add('a', async () => undefined);
    return queue.delays[0]!;
  });
  assert.deepEqual(delays, [0, REWATCH_MAX_JITTER_MS / 2, Math.floor(0.999 * REWATCH_MAX_JITTER_MS)]);
  const short = new RewatchQueue(() => 1000, () => 0.999);
  short.add('a', async () => undefined);
  assert.equal(short.delays[0], Math.floor(0.999 * 250));
});

test('runs every queued task once, at most REWATCH_IN_FLIGHT at a time; a key queued twice runs once', async () => {
  const queue = new RewatchQueue(() => 1000, () => 0);
  let inFlight = 0;
  let maxInFlight = 0;
  const ran: string[] = [];
  const releases: (() => void)[] = [];
  for (let i = 0; i < 30; i += 1) {
    const key = `k${i}`;
    const task = async (): Promise<void> => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      ran.push(key);
      await new Promise<void>((resolve) => releases.push(resolve));
      inFlight -= 1;
    };
    queue.add(key, task);
    queue.add(key, task);
  }
  // Only one delay is drawn for the whole batch.
  assert.equal(queue.delays.length, 1);
  while (ran.length < 30) {
    await waitFor(() => releases.length > 0, 'a task to start');
    releases.splice(0).forEach((release) => release());
  }
  await waitFor(() => queue.pending === 0, 'the queue to drain');
  assert.equal(maxInFlight, REWATCH_IN_FLIGHT);
  assert.deepEqual([...ran].sort(), Array.from({ length: 30 }, (_, i) => `k${i}`).sort());
});
