import type { z } from 'zod';
import type { PluginHelper } from '../lib/plugin-helper.js';
import type { Check, CheckTarget } from './types.js';

/** What a check plugin registers (`api.registerCheck`); the contract is in src/checks/README.md. */
export interface CheckPlugin<Config = unknown> {
  kind: string;
  /** validates the plugin's own settings of `checks.<kind>` (rise/fall/timeout are the core's) */
  schema: z.ZodType<Config>;
  create(config: Config, target: CheckTarget, helper: PluginHelper): Check;
}
