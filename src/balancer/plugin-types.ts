import type { z } from 'zod';
import type { IgnoreSettings, PluginHelper } from '../lib/plugin-helper.js';
import type { Balancer } from './types.js';

/** What a balancer plugin registers (`api.registerBalancer`). */
export interface BalancerPlugin<Config = unknown, ClusterConfig = unknown> {
  kind: string;
  /** validates the body of `balancers/<name>.yaml` */
  schema: z.ZodType<Config>;
  ignoreSettings?: IgnoreSettings;
  /** validates the `<kind>:` section of each cluster file (e.g. `haproxy:`) */
  clusterSchema: z.ZodType<ClusterConfig>;
  /** like ignoreSettings, for that section of a cluster file */
  ignoreClusterSettings?: IgnoreSettings;
  create(config: Config, helper: PluginHelper): Balancer<ClusterConfig>;
}
