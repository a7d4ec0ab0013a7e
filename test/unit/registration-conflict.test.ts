import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ServiceRunner, type ConflictEvent } from '../../src/reporter/service-runner.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import { FakeDiscovery } from '../support/fake-discovery.js';
import { waitFor } from '../support/wait-for.js';
import { captureLogger } from '../support/zookeeper.js';
import { scriptedCheck, serviceItem } from '../support/service-item.js';

const passing: CheckPlugin = { kind: 'scripted', schema: z.unknown(), create: () => ({ run: () => Promise.resolve({ passed: true }) }) };
const KEY = 'node1.example.com:8001';
const other = { session: '0200aa', host: 'node1.example.com', ip: '10.0.0.6' };
const runners: ServiceRunner[] = [];

function start(): { runner: ServiceRunner; fake: FakeDiscovery; lines: () => Record<string, unknown>[]; events: ConflictEvent[] } {
  const fake = new FakeDiscovery();
  const { logger, lines } = captureLogger('info');
  const runner = new ServiceRunner({
    item: serviceItem({ checks: [scriptedCheck({ rise: 1, fall: 1 })] }),
    discovery: fake,
    identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
    checkPlugins: new Map([[passing.kind, passing]]),
    logger,
    timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000 },
  });
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  const events: ConflictEvent[] = [];
  runner.onConflict((event) => events.push(event));
  runners.push(runner);
  runner.start();
  return { runner, fake, lines, events };
}

const port = (runner: ServiceRunner) => runner.status().ports[0]!;

afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ deregister: false })));
});

describe('service runner: a registration another session keeps taking (#11.6)', () => {
  it('takes it back twice, yields at the third takeover, and names both sessions', async () => {
    const { runner, fake, lines, events } = start();
    await waitFor(() => port(runner).registered, 'registered');
    for (let loss = 1; loss <= 3; loss += 1) {
      const publishes = fake.count('publish');
      runner.onLost(KEY, other);
      if (loss < 3) await waitFor(() => fake.count('publish') > publishes && port(runner).registered, `taken back after loss ${loss}`);
    }
    const conflict = port(runner).conflict;
    assert.deepEqual(conflict?.holder, other);
    assert.equal(port(runner).registered, false);
    assert.deepEqual(events.map((event) => event.conflict), [true]);
    const error = lines().find((line) => line.code === 'LH_REGISTRATION_CONFLICT');
    assert.match(String(error?.msg), /ours is session \S+ \(node1\.example\.com 10\.0\.0\.5\), the other is session 0200aa \(node1\.example\.com 10\.0\.0\.6\)/);
    const publishes = fake.count('publish');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(fake.count('publish'), publishes, 'no write while yielding (checks go on)');
  });

  it('registers again once the other node is deleted; stopping while yielding removes nothing', async () => {
    const { runner, fake, events } = start();
    await waitFor(() => port(runner).registered, 'registered');
    for (let loss = 0; loss < 3; loss += 1) {
      runner.onLost(KEY, other);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await waitFor(() => port(runner).conflict, 'the conflict');
    runner.onLost(KEY);
    await waitFor(() => port(runner).registered, 'registered again');
    assert.equal(port(runner).conflict, null);
    assert.deepEqual(events.map((event) => event.conflict), [true, false]);

    for (let loss = 0; loss < 3; loss += 1) {
      runner.onLost(KEY, other);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await waitFor(() => port(runner).conflict, 'the conflict again');
    const unpublishes = fake.count('unpublish');
    await runner.stop({ deregister: true, deadlineMs: 500 });
    assert.equal(fake.count('unpublish'), unpublishes, "the other session's node is not ours to remove");
  });

  it('a deletion (no holder) is not a takeover: it never counts toward a conflict', async () => {
    const { runner } = start();
    await waitFor(() => port(runner).registered, 'registered');
    for (let loss = 0; loss < 5; loss += 1) {
      runner.onLost(KEY);
      await waitFor(() => port(runner).registered, 'registered again');
    }
    assert.equal(port(runner).conflict, null);
  });
});
