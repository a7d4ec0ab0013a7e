import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ServiceRunner } from '../../src/reporter/service-runner.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import { FakeDiscovery } from '../support/fake-discovery.js';
import { captureLogger } from '../support/zookeeper.js';
import { scriptedCheck, serviceItem } from '../support/service-item.js';
import { waitFor } from '../support/wait-for.js';

/** A check that fails at once on port 8001 and hangs past its timeout on port 8002. */
const plugin: CheckPlugin = {
  kind: 'scripted',
  schema: z.unknown(),
  create: (_config, target) => ({
    run: (signal: AbortSignal) =>
      target.port === 8001
        ? Promise.resolve({ passed: false, detail: 'HTTP 500' })
        : new Promise((resolve) => signal.addEventListener('abort', () => resolve({ passed: false, detail: 'aborted' }), { once: true })),
  }),
};

const runners: ServiceRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ deregister: false })));
});

test('a failed check logs LH_CHECK_FAILED, a check aborted at its timeout LH_CHECK_TIMEOUT', async () => {
  const capture = captureLogger('warn');
  const fake = new FakeDiscovery();
  const runner = new ServiceRunner({
    item: serviceItem({ ports: [8001, 8002], intervalMs: 50, checks: [scriptedCheck({ timeoutMs: 20, rise: 1, fall: 1 })] }),
    discovery: fake,
    identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
    checkPlugins: new Map([[plugin.kind, plugin]]),
    logger: capture.logger,
    timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000 },
  });
  runners.push(runner);
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  runner.start();
  const failureLine = (port: number) => capture.lines().find((line) => line['port'] === port && String(line['msg']).includes('failed'));
  const failed = await waitFor(() => failureLine(8001), 'the failure line of port 8001');
  const hung = await waitFor(() => failureLine(8002), 'the failure line of port 8002');
  assert.equal(failed['code'], 'LH_CHECK_FAILED');
  assert.match(String(failed['msg']), /HTTP 500/);
  assert.equal(hung['code'], 'LH_CHECK_TIMEOUT');
});

test('a publish the backend fails logs LH_REGISTRATION_WRITE with the service file', async () => {
  const capture = captureLogger('warn');
  const fake = new FakeDiscovery();
  fake.failWrites = true;
  const always: CheckPlugin = { kind: 'scripted', schema: z.unknown(), create: () => ({ run: () => Promise.resolve({ passed: true, detail: 'ok' }) }) };
  const runner = new ServiceRunner({
    item: serviceItem({ intervalMs: 50, checks: [scriptedCheck({ rise: 1 })] }),
    discovery: fake,
    identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
    checkPlugins: new Map([[always.kind, always]]),
    logger: capture.logger,
    timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000 },
  });
  runners.push(runner);
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  runner.start();
  const line = await waitFor(() => capture.lines().find((entry) => String(entry['msg']).includes('publish of')), 'the failed publish line');
  assert.equal(line['code'], 'LH_REGISTRATION_WRITE');
  assert.match(String(line['msg']), /^\/etc\/lighthouse\/services\/webapp\.yaml: service webapp port 8001: publish of node1\.example\.com:8001 on discovery zk failed/);
});
