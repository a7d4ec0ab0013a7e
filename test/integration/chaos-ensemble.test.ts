import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { LoadGenerator, recordResult } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { sleep } from '../../src/lib/deadline.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Chaos 4 and 1, on a three-server ensemble under load:
 * 4. the server a reporter is connected to hangs (SIGSTOP): the reporter
 *    leaves it for another server before its session expires, so its
 *    ephemeral registrations are kept;
 * 1. the leader is killed (SIGKILL): sessions move to the survivors, no
 *    registration is lost, and watches still report changes afterwards.
 */

const SESSION_TIMEOUT_MS = 4000;

let stack: ChaosStack;

before(async () => {
  stack = await ChaosStack.start({ zkServers: 3, reporters: [1, 2], sessionTimeoutMs: SESSION_TIMEOUT_MS });
});

after(async () => {
  for (const server of stack?.zk.servers ?? []) {
    try {
      stack.zk.resume(server.id);
    } catch {
      // the killed leader
    }
  }
  await stack?.stop();
});

/** Owner session (hex) of every registration. */
async function owners(): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for (const name of await stack.registrations()) {
    const { stat } = await stack.admin.getData(`${stack.servicePath}/${name}`);
    result.set(name, stat.ephemeralOwner.toString('hex'));
  }
  return result;
}

/** The live server a session is connected to, from `cons` (frozen servers are skipped: they answer nothing). */
async function serverOf(sessionHex: string, skip: readonly number[] = []): Promise<number | undefined> {
  const sid = `sid=0x${sessionHex.replace(/^0+/, '')}`;
  for (const server of stack.zk.servers) {
    if (!server.process || skip.includes(server.id)) continue;
    const text = await stack.zk.fourLetter(server.id, 'cons', 1000).catch(() => '');
    if (text.includes(sid)) return server.id;
  }
  return undefined;
}

test('chaos 4: a hung ZooKeeper server (SIGSTOP) is left before the session expires; ephemerals kept', async (t) => {
  const b = stack.reporters[1]!;
  const before = await owners();
  const session = before.get(`${b.host}:${b.backends[0]!.port}`)!;
  const frozen = await waitFor(() => serverOf(session), 'the server of reporter b');
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');

  await stack.reconnectAdmin(stack.zk.servers.filter((server) => server.id !== frozen).map((server) => `127.0.0.1:${server.clientPort}`));
  stack.zk.pause(frozen);
  const pausedAt = performance.now();
  const moved = await waitFor(() => serverOf(session, [frozen]), 'reporter b to move to another server', 30_000, 50);
  const failoverMs = performance.now() - pausedAt;
  // Past the session timeout with the server still frozen: the session must outlive it.
  await sleep(SESSION_TIMEOUT_MS * 1.5);
  const after = await owners();
  assert.deepEqual([...after.entries()].sort(), [...before.entries()].sort(), 'every registration still exists, owned by the same session');
  assert.equal(b.process.logged(/expired/).length, 0, 'the reporter never saw an expiry');
  // The library itself never gives up on a silent server: only the liveness probe can have moved it.
  assert.ok(b.process.logged(/dropping ZooKeeper connection/).length >= 1, 'the liveness probe dropped the hung connection');
  stack.zk.resume(frozen);
  await stack.reconnectAdmin();
  await stack.waitConverged();
  const report = await load.stop();
  const lost = await stack.lost();
  recordResult({ scenario: '4 hung ZooKeeper server', requests: report.sent, failed: report.failed, lost, recoveryMs: failoverMs, note: `reporter moved from server ${frozen} to ${moved}; session timeout ${SESSION_TIMEOUT_MS} ms` }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
});

test('chaos 1: the ZooKeeper leader killed (SIGKILL) under load: no failed request, no registration lost, watches still correct', async (t) => {
  const leader = await stack.zk.leader();
  await stack.reconnectAdmin(stack.zk.servers.filter((server) => server.id !== leader).map((server) => `127.0.0.1:${server.clientPort}`));
  const before = await owners();
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');

  process.kill(stack.zk.server(leader).process!.pid!, 'SIGKILL');
  const killedAt = performance.now();
  // A change right after the kill: it must reach HAProxy once the ensemble has a new leader.
  stack.reporters[1]!.backends[1]!.healthy = false;
  await stack.waitConverged();
  const recoveryMs = performance.now() - killedAt;
  const newLeader = await stack.zk.leader();
  const after = await owners();
  for (const [name, owner] of after) assert.equal(owner, before.get(name), `${name} is still owned by the session that created it`);
  // And a change after that, through the re-armed watches.
  stack.reporters[1]!.backends[1]!.healthy = true;
  await stack.waitConverged();
  const report = await load.stop();
  const lost = await stack.lost();
  recordResult({ scenario: '1 ZooKeeper leader SIGKILL', requests: report.sent, failed: report.failed, lost, recoveryMs, note: `leader ${leader} killed, new leader ${newLeader}; recovery = a change made at the kill reaching HAProxy` }, (m) => t.diagnostic(m));
  assert.notEqual(newLeader, leader);
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
  assert.ok(stack.writer.alive && stack.reporters.every((reporter) => reporter.process.alive));
});
