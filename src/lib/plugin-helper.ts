import type { Logger } from './logger.js';

/**
 * What every plugin family shares, at the bottom so each family's contract
 * (src/discovery/plugin-types.ts, src/balancer/plugin-types.ts,
 * src/checks/plugin-types.ts) can use it without importing the host.
 */

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

/** A setting a plugin accepts for compatibility and ignores: the core reports it as a warning naming file and setting. */
export interface IgnoredSetting {
  /** path of the setting inside the plugin's part of the file, e.g. `['global', 0]` */
  path: (string | number)[];
  /** why it is ignored */
  reason: string;
}

/**
 * Optional on discovery and balancer plugins: removes settings the original
 * Lighthouse needed that mean nothing here (HAProxy's `daemon`) from the file
 * body before `schema` sees it, so such a file works unchanged.
 */
export type IgnoreSettings = (body: Record<string, unknown>) => { body: Record<string, unknown>; ignored: IgnoredSetting[] };
