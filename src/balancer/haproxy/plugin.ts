import type { BalancerPlugin } from '../plugin-types.js';
import { HaproxyBalancer } from './balancer.js';
import { ignoreHaproxyClusterSettings, ignoreHaproxySettings } from './ignored-settings.js';
import { haproxyClusterSchema, haproxyConfigSchema, type HaproxyClusterConfig, type HaproxyConfig } from './schema.js';

/** The built-in HAProxy balancer, registered like any third-party plugin. */
export const haproxyBalancer: BalancerPlugin<HaproxyConfig, HaproxyClusterConfig> = {
  kind: 'haproxy',
  schema: haproxyConfigSchema,
  ignoreSettings: ignoreHaproxySettings,
  ignoreClusterSettings: ignoreHaproxyClusterSettings,
  clusterSchema: haproxyClusterSchema,
  create: (config, helper) => new HaproxyBalancer(config, { logger: helper.logger, file: helper.file }),
};

export { HaproxyBalancer } from './balancer.js';
export { HaproxyControl, createHaproxyControl, type HaproxyCounters, type ServerStat } from './runtime-channel.js';
export type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';
