import type { DiscoveryPlugin } from '../plugin-types.js';
import { EtcdDiscovery } from './discovery.js';
import { etcdConfigSchema, type EtcdConfig } from './schema.js';

export type { EtcdConfig } from './schema.js';
export { EtcdDiscovery } from './discovery.js';

/** The etcd v3 discovery backend: `discovery/<name>.yaml` with `plugin: etcd` (or named etcd.yaml). */
export const etcdDiscovery: DiscoveryPlugin<EtcdConfig> = {
  kind: 'etcd',
  schema: etcdConfigSchema,
  create(config, helper) {
    return new EtcdDiscovery(helper.name, config, helper.file, helper.logger.child({ module: 'etcd', discovery: helper.name }));
  },
};
