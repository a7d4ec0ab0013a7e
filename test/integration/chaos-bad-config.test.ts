import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clusterYaml, LoadGenerator, recordResult, writeAtomic } from '../support/chaos.js';
import { httpGet } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';
import { atLeast } from '../support/strict-json.js';

/**
 * Chaos 6: configuration HAProxy refuses, written while the writer runs
 * under load: a directive `haproxy -c` rejects, and a new listener on a port
 * something else holds. The running HAProxy keeps serving the old
 * configuration, the writer names the cause, and fixing the file recovers
 * without restarting the writer.
 */

let stack: ChaosStack;
let blocker: Server | undefined;

before(async () => {
  stack = await ChaosStack.start({ reporters: [1, 2] });
});

after(async () => {
  blocker?.close();
  await stack?.stop();
});

const errorsMatching = (pattern: RegExp): string[] =>
  stack.writer.lines.filter((line) => atLeast(line, 'error') && pattern.test(String(line.msg))).map((line) => String(line.msg));

test('chaos 6a: a directive HAProxy rejects is not installed; the old config serves; the fixed file applies', async (t) => {
  const writerPid = stack.writer.pid;
  const config = await stack.haproxyConfig();
  const routed = await stack.routed();
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');
  const file = join(stack.writerDir, 'clusters', 'web.yaml');

  // The schema allows the keyword (http-request is legal in a backend); only HAProxy knows the action is bogus.
  await writeAtomic(file, clusterYaml(stack.webPort, ['  backend:', '    - http-request frobnicate']));
  const [rejection] = await waitFor(() => {
    const found = errorsMatching(/frobnicate/);
    return found.length > 0 ? found : undefined;
  }, 'the writer to report the rejection');
  assert.match(rejection!, /cluster "web"/, 'the error names the cluster');
  assert.match(rejection!, /keeps (serving|its configuration)/);
  const sent = load.report.sent;
  await waitFor(() => load.report.sent > sent + 50, 'more load on the old config');
  assert.equal(await stack.haproxyConfig(), config, 'the rejected config was not installed');
  assert.deepEqual(await stack.routed(), routed);

  const fixedAt = performance.now();
  await writeAtomic(file, clusterYaml(stack.webPort, ['  backend:', '    - http-request set-header X-Chaos fixed']));
  await waitFor(async () => (await stack.haproxyConfig()).includes('http-request set-header X-Chaos fixed'), 'the fixed file to be applied');
  await stack.waitConverged();
  const recoveryMs = performance.now() - fixedAt;
  const report = await load.stop();
  assert.equal(stack.writer.pid, writerPid);
  assert.ok(stack.writer.alive, 'the writer never exited');
  recordResult({ scenario: '6a directive HAProxy rejects', requests: report.sent, failed: report.failed, lost: await stack.lost(), recoveryMs, note: 'from the fixed file to it being applied' }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
});

test('chaos 6b: a listener on a port in use fails the reload; the old worker serves; a fixed port applies', async (t) => {
  const [busyPort, freePort] = (await freePorts(2)) as [number, number];
  blocker = createServer();
  await new Promise<void>((resolve) => blocker!.listen(busyPort, '127.0.0.1', () => resolve()));
  const routed = await stack.routed();
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');
  const file = join(stack.writerDir, 'clusters', 'extra.yaml');

  await writeAtomic(file, clusterYaml(busyPort));
  const [failure] = await waitFor(() => {
    const found = errorsMatching(/already in use/i);
    return found.length > 0 ? found : undefined;
  }, 'the writer to report the failed reload');
  assert.match(failure!, new RegExp(`127\\.0\\.0\\.1:${busyPort}`), 'the error names the address');
  assert.match(failure!, /cluster "extra"/, 'and the cluster');
  const sent = load.report.sent;
  await waitFor(() => load.report.sent > sent + 50, 'more load on the old worker');
  assert.deepEqual(await stack.routed(), routed);

  const fixedAt = performance.now();
  await writeAtomic(file, clusterYaml(freePort));
  // An empty backend answers 503: any HTTP answer shows the new listener is there.
  await waitFor(async () => (await httpGet(freePort).catch(() => ({ status: 0 }))).status === 503, 'the new listener after the fix');
  const recoveryMs = performance.now() - fixedAt;
  const report = await load.stop();
  assert.ok(stack.writer.alive, 'the writer never exited');
  await stack.waitConverged();
  recordResult({ scenario: '6b listener port in use', requests: report.sent, failed: report.failed, lost: await stack.lost(), recoveryMs, note: 'from the fixed file to the new listener' }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
});
