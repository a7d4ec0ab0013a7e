import type { CheckSpec, ServiceItem } from '../../src/config/model.js';

/** A `scripted` check spec, for runners driven by test check plugins. */
export function scriptedCheck(overrides: Partial<CheckSpec> = {}): CheckSpec {
  return { kind: 'scripted', rise: 2, fall: 2, timeoutMs: 1000, config: {}, ...overrides };
}

/** The `webapp` service of the runner tests: port 8001, checked every 20 ms. */
export function serviceItem(overrides: Partial<ServiceItem> = {}): ServiceItem {
  return {
    kind: 'service',
    name: 'webapp',
    file: '/etc/lighthouse/services/webapp.yaml',
    hash: 'h1',
    discovery: 'zk',
    host: '127.0.0.1',
    ports: [8001],
    metadata: { version: 1 },
    intervalMs: 20,
    checks: [scriptedCheck()],
    advertise: {},
    ...overrides,
  };
}
