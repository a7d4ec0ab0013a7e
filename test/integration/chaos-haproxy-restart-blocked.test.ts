import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { collectStatus, formatStatus } from '../../src/cli/status-command.js';
import { coreRegistries } from '../support/core-registries.js';
import { haproxyMasters, haproxyPids, LONG, LoadGenerator, reached, recordResult } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Chaos 11: HAProxy killed (master and workers) under load, and another
 * program binds one of its listener ports before the writer starts it again,
 * holding it for a few seconds. The writer keeps retrying with backoff, with
 * no discovery change needed; `lighthouse status` says HAProxy is down while
 * it is; once the port is free HAProxy serves again, from the unchanged file.
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

/** A listener of another program: it takes the port and drops every connection (the load keeps arriving). */
async function tryListen(port: number): Promise<Server | undefined> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** SIGKILLs every HAProxy of the stack and binds `port` before the writer's restart does; again if the writer won the race. */
async function killAndTakePort(port: number): Promise<{ killedAt: number; server: Server }> {
  for (let round = 0; round < 10; round += 1) {
    const pids = await haproxyPids(stack.dir.path);
    const killedAt = performance.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline) {
      const server = await tryListen(port);
      if (server) return { killedAt, server };
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  throw new Error(`could not take port ${port} before the writer restarted HAProxy`);
}

test('chaos 11: HAProxy killed and a listener port taken before its restart: retried with backoff, serving again once the port is free', async (t) => {
  const config = await stack.haproxyConfig();
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 50, 'some load before the kill');

  const { killedAt, server } = await killAndTakePort(stack.webPort);
  blocker = server;
  await stack.writer.waitForLog((line) => /HAProxy is down and could not be started again/.test(String(line.msg)), 'the failed restart');
  const status = await waitFor(async () => {
    const text = formatStatus(await collectStatus(stack.writerDir, coreRegistries(), 5_000));
    return /HAProxy is down since/.test(text) ? text : undefined;
  }, 'lighthouse status to say HAProxy is down');
  assert.match(status, /problem: .*haproxy\.yaml: HAProxy is down since .*Address already in use|problem: .*haproxy\.yaml: HAProxy is down since .*cannot bind/);

  // Held for a few seconds (several attempts), then freed: nothing else changes.
  const holdMs = LONG ? 60_000 : 4_000;
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  const freedAt = performance.now();
  // close() lets go of the port at once; its callback would wait for connections still open.
  blocker!.close();
  blocker = undefined;
  const servingAt = await Promise.race([
    load.nextSuccessAfter(freedAt),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`HAProxy is not serving 60 s after the port was freed\n--- writer ---\n${stack.writer.tail()}`)), 60_000).unref()),
  ]);

  await stack.waitConverged();
  const sent = load.report.sent;
  await waitFor(() => load.report.sent > sent + 200, 'more load after the recovery');
  const report = await load.stop();
  assert.ok((load.lastFailureAt ?? 0) < servingAt, 'no request started after the recovery failed');
  assert.equal(await stack.haproxyConfig(), config, 'started from the unchanged config file');
  assert.equal((await haproxyMasters(stack.dir.path)).length, 1, 'exactly one HAProxy');
  assert.equal((await reached(stack.webPort)).size, 3, 'every member is routed again');
  assert.equal(stack.writer.logged(/HAProxy is down and could not be started again/).length, 1, 'the outage is logged once');
  // A round of killAndTakePort the writer won (HAProxy back before the port was taken) ends an outage of its own,
  // with no failed start: only the outage the taken port caused counts here.
  assert.equal(stack.writer.logged(/HAProxy is serving again after .* \([1-9]\d* failed start attempts\)/).length, 1, 'and its end once');
  assert.ok(stack.writer.alive);
  const statusAfter = formatStatus(await collectStatus(stack.writerDir, coreRegistries(), 5_000));
  assert.doesNotMatch(statusAfter, /HAProxy is down/, 'status no longer says it is down');

  recordResult(
    { scenario: '11 HAProxy restart blocked (port taken)', requests: report.sent, failed: report.failed, lost: await stack.lost(), recoveryMs: servingAt - freedAt, note: `recovery from the port being freed; down ${Math.round((servingAt - killedAt) / 100) / 10} s in all; failures = requests while nothing listened` },
    (m) => t.diagnostic(m),
  );
  assert.equal(await stack.lost(), 0);
});
