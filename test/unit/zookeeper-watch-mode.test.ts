import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { MAX_LOSSES_WITH_ADD_WATCH, WatchMode } from '../../src/discovery/zookeeper/watch-mode.js';

function capture(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test('a refusal (UNIMPLEMENTED) turns the session to one-shot for good, logged once at info naming the server', () => {
  const { logger, lines } = capture();
  const mode = new WatchMode();
  assert.equal(mode.persistent, true);
  mode.markUnsupported('10.0.0.1:2181', logger);
  mode.markUnsupported('10.0.0.2:2181', logger);
  mode.confirmed();
  assert.equal(mode.persistent, false);
  assert.equal(lines().length, 1);
  assert.equal(lines()[0]!.level, 30);
  assert.match(String(lines()[0]!.msg), /10\.0\.0\.1:2181 does not support persistent watches/);
});

test(`connections lost with an addWatch unanswered: one-shot after ${MAX_LOSSES_WITH_ADD_WATCH} distinct connections in a row, an addWatch that succeeds resets the count`, () => {
  const { logger } = capture();
  const mode = new WatchMode();
  // Every cluster's addWatch on one connection fails with it: that is one loss.
  for (let i = 0; i < 20; i += 1) mode.lostDuringAddWatch(1, 's1', logger);
  mode.lostDuringAddWatch(2, 's2', logger);
  assert.equal(mode.persistent, true);
  mode.confirmed();
  mode.lostDuringAddWatch(3, 's1', logger);
  mode.lostDuringAddWatch(4, 's2', logger);
  assert.equal(mode.persistent, true);
  mode.lostDuringAddWatch(5, 's3', logger);
  assert.equal(mode.persistent, false);
});

test('a fallback guessed from lost connections is tried again on a new session (logged once); a refusal is not', () => {
  const { logger, lines } = capture();
  const guessed = new WatchMode();
  for (let connection = 1; connection <= MAX_LOSSES_WITH_ADD_WATCH; connection += 1) guessed.lostDuringAddWatch(connection, 's1', logger);
  assert.equal(guessed.persistent, false);
  guessed.newSession(logger);
  guessed.newSession(logger); // every cluster watch of the session calls it
  assert.equal(guessed.persistent, true);
  assert.equal(lines().filter((line) => /trying persistent watches again/.test(String(line.msg))).length, 1);
  // And it can fall back again, as the first time.
  for (let connection = 10; connection < 10 + MAX_LOSSES_WITH_ADD_WATCH; connection += 1) guessed.lostDuringAddWatch(connection, 's1', logger);
  assert.equal(guessed.persistent, false);

  const refused = new WatchMode();
  refused.markUnsupported('10.0.0.1:2181', logger);
  refused.newSession(logger);
  assert.equal(refused.persistent, false, 'an old server said so: no new probe on every expiry');
});
