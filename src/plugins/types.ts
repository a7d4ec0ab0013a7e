import type { z } from 'zod';
import type { Logger } from '../lib/logger.js';
import type { DiscoveryPlugin } from '../discovery/plugin-types.js';
import type { BalancerPlugin } from '../balancer/plugin-types.js';
import type { CheckPlugin } from '../checks/plugin-types.js';

/*
 * The host side of the plugin API: the version and the `setup(api)` entry
 * point. Each family's plugin interface lives beside its contract
 * (src/<family>/plugin-types.ts); src/plugins/api.ts re-exports them all.
 */

/**
 * Bumped when a plugin interface changes incompatibly; plugins declare the
 * version they were written for and the loader refuses any other, so a
 * mismatch is one clear error at start instead of a crash mid-run.
 */
export const PLUGIN_API_VERSION = 1;

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
