import type { z } from 'zod';
import type { Logger } from '../lib/logger.js';
import type { Discovery } from '../discovery/types.js';
import type { Balancer } from '../balancer/types.js';
import type { Check, CheckTarget } from '../checks/types.js';

/**
 * Bumped when a plugin interface changes incompatibly; plugins declare the
 * version they were written for and the loader refuses any other, so a
 * mismatch is one clear error at start instead of a crash mid-run.
 */
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

export interface DiscoveryPlugin<Config = unknown> {
  kind: string;
  /** validates the body of `discovery/<name>.yaml` */
  schema: z.ZodType<Config>;
  ignoreSettings?: IgnoreSettings;
  create(config: Config, helper: PluginHelper): Discovery;
}

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

export interface CheckPlugin<Config = unknown> {
  kind: string;
  /** validates the plugin's own settings of `checks.<kind>` (rise/fall/timeout are the core's) */
  schema: z.ZodType<Config>;
  create(config: Config, target: CheckTarget, helper: PluginHelper): Check;
}

/**
 * What `setup` receives: the only way into the daemon. Built-ins get exactly
 * this object too, so the boundary a third party sees is the one the core
 * itself is held to.
 */
export interface PluginApi {
  /** the host's PLUGIN_API_VERSION */
  readonly apiVersion: number;
  /**
   * The host's zod. Schemas must come from it: the core formats their issues
   * as `file: setting (line n): message`, which relies on zod 4's issue
   * shapes, and a plugin built against its own copy could silently differ.
   */
  readonly z: typeof z;
  /** for messages while setting up; plugins get per-item loggers through PluginHelper later */
  readonly logger: Logger;
  registerDiscovery<Config>(plugin: DiscoveryPlugin<Config>): void;
  registerBalancer<Config, ClusterConfig>(plugin: BalancerPlugin<Config, ClusterConfig>): void;
  registerCheck<Config>(plugin: CheckPlugin<Config>): void;
}

/** The default export (or the `lighthousePlugin` export) of a plugin package. */
export interface LighthousePlugin {
  /** the PLUGIN_API_VERSION the plugin was written for */
  apiVersion: number;
  /** shown in logs; defaults to the package name */
  name?: string;
  /** registers the plugin's kinds; all or nothing: if it throws, nothing it registered is kept */
  setup(api: PluginApi): void | Promise<void>;
}
