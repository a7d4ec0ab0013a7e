import { z } from 'zod';
import { createRegistries, type PluginRegistries } from '../../src/plugins/registry.js';
import type { Discovery } from '../../src/discovery/types.js';
import type { Balancer } from '../../src/balancer/types.js';
import type { Check } from '../../src/checks/types.js';

/**
 * Registries with minimal plugins, for unit tests of the config layer only
 * (they never connect or balance anything).
 */
export function testRegistries(): PluginRegistries {
  const registries = createRegistries();
  registries.discovery.register({
    kind: 'zookeeper',
    schema: z.strictObject({ hosts: z.array(z.string()).min(1), path: z.string().startsWith('/') }),
    create: (): Discovery => {
      throw new Error('not for unit tests');
    },
  });
  registries.balancers.register({
    kind: 'haproxy',
    schema: z.strictObject({ config_file: z.string(), socket_file: z.string(), pid_file: z.string() }),
    clusterSchema: z.strictObject({ port: z.number().int().optional(), acl: z.string().optional() }),
    create: (): Balancer => {
      throw new Error('not for unit tests');
    },
  });
  registries.checks.register({
    kind: 'http',
    schema: z.strictObject({ uri: z.string().startsWith('/'), method: z.string().default('GET') }),
    create: (): Check => {
      throw new Error('not for unit tests');
    },
  });
  return registries;
}
