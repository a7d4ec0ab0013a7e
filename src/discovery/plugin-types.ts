import type { z } from 'zod';
import type { IgnoreSettings, PluginHelper } from '../lib/plugin-helper.js';
import type { Discovery } from './types.js';

/** What a discovery plugin registers (`api.registerDiscovery`); the contract is in src/discovery/README.md. */
export interface DiscoveryPlugin<Config = unknown> {
  kind: string;
  /** validates the body of `discovery/<name>.yaml` */
  schema: z.ZodType<Config>;
  ignoreSettings?: IgnoreSettings;
  create(config: Config, helper: PluginHelper): Discovery;
}
