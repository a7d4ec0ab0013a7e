import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ServiceRunner } from '../../src/reporter/service-runner.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import { LighthouseError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { FakeDiscovery } from '../support/fake-discovery.js';
import { waitFor } from '../support/wait-for.js';
import { scriptedCheck, serviceItem } from '../support/service-item.js';

/** A backend that cannot hold the service's name (issue #11): the failure names the service file. */
class RefusingDiscovery extends FakeDiscovery {
  override publish(service: string): Promise<void> {
    // Thrown at once, not as a rejection: a plugin may validate before going async.
    throw new LighthouseError('LH_ZK_OPERATION', `${JSON.stringify(service)} is not a valid znode name`, { znode: `/base/${service}` });
  }
}

const passing: CheckPlugin = { kind: 'scripted', schema: z.unknown(), create: () => ({ run: () => Promise.resolve({ passed: true, detail: 'ok' }), close: () => undefined }) };

test('a publish the backend refuses at once is reported (and retried) with the service file named', async () => {
  const fake = new RefusingDiscovery();
  const file = '/etc/lighthouse/services/odd.yaml';
  const runner = new ServiceRunner({
    item: serviceItem({ name: 'odd', file, checks: [scriptedCheck({ rise: 1 })] }),
    discovery: fake,
    identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
    checkPlugins: new Map([[passing.kind, passing]]),
    logger: silentLogger(),
    timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000 },
  });
  const failures: string[] = [];
  runner.onRegistration((event) => {
    if (!event.ok && event.error) failures.push(event.error);
  });
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  runner.start();
  try {
    await waitFor(() => failures.length >= 1, 'the refused publish to be reported');
    assert.match(failures[0]!, new RegExp(`^${file}: service odd port 8001: publish of node1\\.example\\.com:8001 on discovery zk failed: .*"odd" is not a valid znode name`));
  } finally {
    await runner.stop({ deregister: false });
  }
});
