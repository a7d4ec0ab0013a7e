import type { z } from 'zod';
import type { Logger } from '../lib/logger.js';
import type { Discovery } from '../discovery/types.js';
import type { Balancer } from '../balancer/types.js';
import type { Check, CheckTarget } from '../checks/types.js';

/** Bumped when a plugin interface changes incompatibly; plugins declare the version they were built for. */
export const PLUGIN_API_VERSION = 1;

/**
 * The narrow view of the daemon a plugin gets: never the daemon itself,
 * so plugins cannot reach into state they do not own.
 */
export interface PluginHelper {
  logger: Logger;
  /** config item name (file name without extension, or its `name:`) */
  name: string;
  /** config file path, for error messages */
  file: string;
  now(): number;
}

export interface DiscoveryPlugin<Config = unknown> {
  kind: string;
  /** validates the body of `discovery/<name>.yaml` */
  schema: z.ZodType<Config>;
  create(config: Config, helper: PluginHelper): Discovery;
}

export interface BalancerPlugin<Config = unknown, ClusterConfig = unknown> {
  kind: string;
  /** validates the body of `balancers/<name>.yaml` */
  schema: z.ZodType<Config>;
  /** validates the `<kind>:` section of each cluster file (e.g. `haproxy:`) */
  clusterSchema: z.ZodType<ClusterConfig>;
  create(config: Config, helper: PluginHelper): Balancer<ClusterConfig>;
}

export interface CheckPlugin<Config = unknown> {
  kind: string;
  /** validates the plugin's own settings of `checks.<kind>` (rise/fall/timeout are the core's) */
  schema: z.ZodType<Config>;
  create(config: Config, target: CheckTarget, helper: PluginHelper): Check;
}
