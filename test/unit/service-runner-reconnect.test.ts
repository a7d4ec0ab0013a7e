import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ServiceRunner } from '../../src/reporter/service-runner.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import { silentLogger } from '../../src/lib/logger.js';
import { FakeDiscovery } from '../support/fake-discovery.js';
import { waitFor } from '../support/wait-for.js';
import { scriptedCheck, serviceItem } from '../support/service-item.js';

/**
 * A write that failed while discovery was away is retried when it is back
 * (onReconnected), not at the end of its backoff: here the backoff is an
 * hour, so only the reconnection can make the registration appear.
 */

const passing: CheckPlugin = {
  kind: 'scripted',
  schema: z.unknown(),
  create: () => ({ run: () => Promise.resolve({ passed: true, detail: 'passes' }), close: () => undefined }),
};

const item = serviceItem({ ports: [8001, 8002], metadata: {}, checks: [scriptedCheck({ rise: 1, fall: 1 })] });

const fake = new FakeDiscovery();
const runner = new ServiceRunner({
  item,
  discovery: fake,
  identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
  discoveryAdvertise: undefined,
  checkPlugins: new Map([[passing.kind, passing]]),
  logger: silentLogger(),
  timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 3_600_000, retryMaxMs: 3_600_000, discoveryTimeoutMs: 2000 },
});

after(() => runner.stop({ deregister: false }));

test('writes that failed while discovery was away are retried at once when it is back', async () => {
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  fake.failWrites = true;
  runner.start();
  await waitFor(() => fake.count('publish', { ok: false }) >= 2, 'both ports to fail to publish');
  fake.failWrites = false;
  runner.onReconnected();
  await waitFor(() => fake.keys('webapp').length === 2, 'both ports to be published after the reconnection');
  assert.deepEqual(fake.keys('webapp'), ['node1.example.com:8001', 'node1.example.com:8002']);
});
