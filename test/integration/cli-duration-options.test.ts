import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.js';

/**
 * #19.2, the CLI side: a millisecond option beyond what Node's timers hold
 * (2^31-1) used to fire after 1 ms ("ZooKeeper did not answer" at once);
 * it is refused with the option named.
 */

const WRITER_DIR = join(fileURLToPath(new URL('../../examples/', import.meta.url)), 'web-cluster-with-redis/writer');

test('status --timeout beyond what a timer holds is refused, naming the option', { timeout: 30_000 }, async () => {
  const result = await runCli('status', WRITER_DIR, '--timeout', '3000000000');
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stderr, /option '--timeout <ms>' argument '3000000000' is invalid\. must be at most 600000/);
  assert.equal(result.stdout, '', 'nothing was attempted');
});

test('writer --history-interval outside 1..3600 seconds is refused, naming the option', { timeout: 30_000 }, async () => {
  for (const value of ['0', '3601', '1.5']) {
    const result = await runCli('writer', WRITER_DIR, '--history-interval', value);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stderr, new RegExp(`option '--history-interval <seconds>' argument '${value.replace('.', '\\.')}' is invalid\\. must be a whole number of seconds from 1 to 3600`));
  }
});
