import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { haproxyMasters, killHaproxy, LoadGenerator, reached, recordResult } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Chaos 5: HAProxy killed (SIGKILL to master and workers) while under load.
 * The writer notices and starts it again from the config file it wrote,
 * without changing that file.
 */

let stack: ChaosStack;

before(async () => {
  stack = await ChaosStack.start({ reporters: [1, 2] });
});

after(async () => {
  await stack?.stop();
});

test('chaos 5: HAProxy SIGKILLed under load is serving again, config unchanged', async (t) => {
  const config = await stack.haproxyConfig();
  const oldMaster = await stack.masterPid();
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 50, 'some load before the kill');

  const killedAt = performance.now();
  const killed = await killHaproxy(stack.dir.path);
  assert.ok(killed.length >= 2, `master and worker killed (pids ${killed.join(', ')})`);
  const servingAt = await load.nextSuccessAfter(killedAt);
  const recoveryMs = servingAt - killedAt;

  await stack.waitConverged();
  const report = await load.stop();
  const newMaster = await stack.masterPid();
  assert.notEqual(newMaster, oldMaster, 'a new master');
  assert.equal(await stack.haproxyConfig(), config, 'the config file is unchanged');
  assert.deepEqual(await haproxyMasters(stack.dir.path), [newMaster], 'exactly one HAProxy, the new one');
  assert.equal((await reached(stack.webPort)).size, 3, 'every member is routed again');
  assert.ok(stack.writer.alive, 'the writer kept running');
  assert.ok(stack.writer.logged(/HAProxy is gone; starting it again/).length >= 1);

  // Requests sent while nothing listened fail (connection refused); that is measured, not asserted.
  recordResult({ scenario: '5 HAProxy SIGKILL', requests: report.sent, failed: report.failed, lost: await stack.lost(), recoveryMs, note: 'failures = requests while nothing listened' }, (m) => t.diagnostic(m));
  assert.equal(await stack.lost(), 0);
});
