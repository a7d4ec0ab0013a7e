import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterYaml, LoadGenerator, recordResult, writeAtomic } from '../support/chaos.js';
import { httpGet } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';
import { atLeast } from '../support/strict-json.js';

/**
 * Chaos 12: another cluster's backend gets a line HAProxy refuses (`balance
 * nosuchalgo`) while `web` is routed under load. Membership changes of `web`
 * (a node deregistering, a new one) must still reach HAProxy and the config
 * file, and a HAProxy restart meanwhile must keep them; only the refused
 * change waits, and applies once its file is fixed.
 */

let stack: ChaosStack;

before(async () => {
  stack = await ChaosStack.start({ reporters: [1, 2] });
});

after(async () => {
  await stack?.stop();
});

const errorsMatching = (pattern: RegExp): string[] =>
  stack.writer.lines.filter((line) => atLeast(line, 'error') && pattern.test(String(line.msg))).map((line) => String(line.msg));

test('chaos 12: one structural change HAProxy refuses does not freeze membership changes of the other clusters', async (t) => {
  const [otherPort] = (await freePorts(1)) as [number];
  const file = join(stack.writerDir, 'clusters', 'other.yaml');
  await writeAtomic(file, clusterYaml(otherPort));
  await waitFor(async () => (await httpGet(otherPort).catch(() => ({ status: 0 }))).status === 503, 'cluster "other" to listen (no members: 503)');
  await stack.waitConverged();

  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');
  await writeAtomic(file, clusterYaml(otherPort, ['  backend:', '    - balance nosuchalgo']));
  const [refusal] = await waitFor(() => {
    const found = errorsMatching(/nosuchalgo|balance only supports/);
    return found.length > 0 ? found : undefined;
  }, 'the writer to report the refused change');
  assert.match(refusal!, /cluster "other"/, 'the error names the cluster');
  assert.match(refusal!, /haproxy\.cfg/, 'and the file');

  // A web node deregisters (health check fails; it keeps serving what it has), then a new one registers.
  const drainedAt = performance.now();
  stack.reporters[1]!.backends[1]!.healthy = false;
  await stack.waitConverged();
  const drainMs = performance.now() - drainedAt;
  const addedAt = performance.now();
  await stack.addBackend(stack.reporters[0]!);
  await stack.waitConverged();
  const addMs = performance.now() - addedAt;
  const config = await stack.haproxyConfig();
  assert.doesNotMatch(config, /nosuchalgo/, 'the refused change is never installed');
  assert.match(config, /backend other\n/);

  const fixedAt = performance.now();
  await writeAtomic(file, clusterYaml(otherPort, ['  backend:', '    - balance leastconn']));
  await waitFor(async () => (await stack.haproxyConfig()).includes('balance leastconn'), 'the fixed file to be applied');
  await stack.waitConverged();
  const fixMs = performance.now() - fixedAt;
  const sent = load.report.sent;
  await waitFor(() => load.report.sent > sent + 100, 'more load after the fix');
  const report = await load.stop();
  assert.ok(stack.writer.alive, 'the writer never exited');
  assert.ok(stack.writer.logged(/configuration HAProxy refused before passes now or is no longer wanted/).length >= 1);
  recordResult(
    {
      scenario: '12 structural change refused (another cluster)',
      requests: report.sent,
      failed: report.failed,
      lost: await stack.lost(),
      recoveryMs: fixMs,
      note: `while refused: deregistration in HAProxy and the file ${Math.round(drainMs)} ms, new node ${Math.round(addMs)} ms; recovery = fixed file applied`,
    },
    (m) => t.diagnostic(m),
  );
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(await stack.lost(), 0);
});
