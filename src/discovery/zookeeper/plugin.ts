import type { DiscoveryPlugin } from '../plugin-types.js';
import { resolveCredentials } from './acl.js';
import { ZookeeperDiscovery } from './discovery.js';
import { zookeeperConfigSchema, type ZookeeperConfig } from './schema.js';

export type { ZookeeperConfig } from './schema.js';
export { ZookeeperDiscovery } from './discovery.js';

/** The built-in discovery backend: `discovery/<name>.yaml` with `plugin: zookeeper` (or named zookeeper.yaml). */
export const zookeeperDiscovery: DiscoveryPlugin<ZookeeperConfig> = {
  kind: 'zookeeper',
  schema: zookeeperConfigSchema,
  create(config, helper) {
    const credentials = resolveCredentials(config.auth, helper.file);
    return new ZookeeperDiscovery(helper.name, config, credentials, helper.logger.child({ module: 'zookeeper', discovery: helper.name }));
  },
};
