import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECONNECT_MAX_WINDOW_MS, ReconnectPacing } from '../../src/discovery/zookeeper/reconnect-pacing.js';

test('a round over the servers goes at once; each failed round doubles the wait window up to the cap', () => {
  const pacing = new ReconnectPacing(500, () => 30_000, () => 1);
  const delays = Array.from({ length: 16 }, () => pacing.nextDelay(3));
  // attempts 0-2: first round, at once; then one wait per round of 3
  assert.deepEqual(delays, [0, 0, 0, 500, 0, 0, 1000, 0, 0, 2000, 0, 0, 2000, 0, 0, 2000]);
  assert.equal(RECONNECT_MAX_WINDOW_MS, 2000);
});

test('a connection resets the rounds: the next loss starts at once with the first window', () => {
  const pacing = new ReconnectPacing(500, () => 30_000, () => 1);
  for (let i = 0; i < 12; i += 1) pacing.nextDelay(3);
  pacing.connected();
  assert.deepEqual(Array.from({ length: 4 }, () => pacing.nextDelay(3)), [0, 0, 0, 500]);
});

test('the window never exceeds a third of the session timeout (but is never below the first window)', () => {
  const short = new ReconnectPacing(500, () => 3000, () => 1);
  assert.deepEqual([1, 2, 3, 4].map((round) => short.window(round)), [500, 1000, 1000, 1000]);
  const tiny = new ReconnectPacing(500, () => 600, () => 1);
  assert.deepEqual([1, 2, 3].map((round) => tiny.window(round)), [500, 500, 500]);
});

test('the delay is drawn within the window (full jitter) and a single server waits after every attempt', () => {
  const pacing = new ReconnectPacing(400, () => 30_000, () => 0.25);
  assert.deepEqual(Array.from({ length: 4 }, () => pacing.nextDelay(1)), [0, 100, 200, 400]);
});

test('an observer client can keep its window narrow', () => {
  const observer = new ReconnectPacing(100, () => 30_000, () => 1, 100);
  assert.deepEqual([1, 2, 5].map((round) => observer.window(round)), [100, 100, 100]);
});
