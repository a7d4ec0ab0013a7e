import { z } from 'zod';
import { withDeadline } from '../lib/deadline.js';
import { LighthouseError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { PLUGIN_API_VERSION, type LighthousePlugin, type PluginApi } from '../plugins/types.js';
import type { DiscoveryPlugin } from '../discovery/plugin-types.js';
import type { BalancerPlugin } from '../balancer/plugin-types.js';
import type { CheckPlugin } from '../checks/plugin-types.js';

/**
 * Kinds become YAML keys (`checks.<kind>`, a cluster file's `<kind>:`
 * section) and file names (`discovery/<kind>.yaml`): lower case, so they
 * read like the built-ins and cannot collide by case.
 */
const KIND = /^[a-z][a-z0-9_-]{0,62}$/;

/** Keys the core owns next to plugin sections: a plugin of that kind could never be configured. */
const RESERVED: Record<keyof PluginRegistries, readonly string[]> = {
  discovery: [],
  balancers: ['discovery', 'meta_cluster', 'name', 'removal_guard'],
  checks: ['interval', 'rise', 'fall', 'timeout'],
};

const FAMILY_NAME: Record<keyof PluginRegistries, string> = { discovery: 'discovery', balancers: 'balancer', checks: 'check' };

type AnyPlugin = DiscoveryPlugin | BalancerPlugin | CheckPlugin;
type Staged = { family: 'discovery'; plugin: DiscoveryPlugin } | { family: 'balancers'; plugin: BalancerPlugin } | { family: 'checks'; plugin: CheckPlugin };

/**
 * How long a plugin's import, and then its setup(), may take: 15 s, or
 * LIGHTHOUSE_PLUGIN_TIMEOUT_MS. Far above what a working plugin needs; what
 * takes longer is stuck (a top-level await or a setup() that never settles).
 * At most the longest timer Node holds (2^31-1 ms, ~24.8 days): a longer
 * one fires after 1 ms, which failed every plugin.
 */
export function pluginLoadTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.LIGHTHOUSE_PLUGIN_TIMEOUT_MS);
  return Number.isInteger(value) && value > 0 ? Math.min(value, MAX_TIMER_MS) : 15_000;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs a plugin's `setup` against the registries. Registrations are staged
 * and only applied when setup returns, so a plugin that fails half-way leaves
 * nothing behind, and every problem names the package (`source`). A setup
 * that has not finished within `timeoutMs` is a load failure too: the daemon
 * would otherwise wait forever, silently.
 */
export async function installPlugin(registries: PluginRegistries, plugin: LighthousePlugin, source: string, logger: Logger, timeoutMs = pluginLoadTimeoutMs()): Promise<string[]> {
  const stage = new Stage(registries, source, logger);
  try {
    const setup = Promise.resolve().then(() => plugin.setup(stage.api));
    await withDeadline(setup, timeoutMs, () => new LighthouseError('LH_PLUGIN_LOAD', `${source}: setup() did not finish within ${timeoutMs} ms`), { keepAlive: true });
  } catch (error) {
    stage.close();
    throw setupError(source, error);
  }
  return stage.commit();
}

/** The same as installPlugin for a plugin whose setup is synchronous (the built-ins): lets `registerBuiltins` stay synchronous. */
export function installPluginSync(registries: PluginRegistries, plugin: LighthousePlugin, source: string, logger: Logger): string[] {
  const stage = new Stage(registries, source, logger);
  let result: void | Promise<void>;
  try {
    result = plugin.setup(stage.api);
  } catch (error) {
    throw setupError(source, error);
  }
  if (result instanceof Promise) throw new LighthouseError('LH_PLUGIN_LOAD', `${source}: setup must be synchronous here`);
  return stage.commit();
}

function setupError(source: string, error: unknown): LighthouseError {
  if (error instanceof LighthouseError && error.code === 'LH_PLUGIN_LOAD') return error;
  return new LighthouseError('LH_PLUGIN_LOAD', `${source}: setup failed: ${error instanceof Error ? error.message : String(error)}`, {}, { cause: error });
}

class Stage {
  private readonly staged: Staged[] = [];
  private closed = false;
  readonly api: PluginApi;

  constructor(
    private readonly registries: PluginRegistries,
    private readonly source: string,
    logger: Logger,
  ) {
    const add = (family: keyof PluginRegistries, plugin: unknown): void => this.add(family, plugin);
    this.api = Object.freeze({
      apiVersion: PLUGIN_API_VERSION,
      z,
      logger: logger.child({ plugin: source }),
      registerDiscovery: (plugin: unknown) => add('discovery', plugin),
      registerBalancer: (plugin: unknown) => add('balancers', plugin),
      registerCheck: (plugin: unknown) => add('checks', plugin),
    }) as PluginApi;
  }

  /** Plugins arrive from plain JavaScript too: check the shape here, not when a config file first uses it. */
  private add(family: keyof PluginRegistries, value: unknown): void {
    const what = `${this.source}: register${family === 'discovery' ? 'Discovery' : family === 'balancers' ? 'Balancer' : 'Check'}`;
    // A plugin keeping `api` and registering later would bypass staging and the duplicate checks.
    if (this.closed) throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: called after setup finished`);
    if (typeof value !== 'object' || value === null) throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: expected a plugin object`);
    const plugin = value as Partial<Record<keyof BalancerPlugin, unknown>>;
    const kind = plugin.kind;
    if (typeof kind !== 'string' || !KIND.test(kind)) {
      throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: kind ${JSON.stringify(kind)} must be lower-case letters, digits, "_" or "-", starting with a letter`);
    }
    if (RESERVED[family].includes(kind)) throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: kind "${kind}" is reserved by the core`);
    if (!isSchema(plugin.schema)) throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: "${kind}" has no schema (a zod schema from api.z)`);
    if (family === 'balancers' && !isSchema(plugin.clusterSchema)) throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: "${kind}" has no clusterSchema`);
    if (typeof plugin.create !== 'function') throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: "${kind}" has no create() function`);
    if (this.registries[family].get(kind) !== undefined || this.staged.some((entry) => entry.family === family && entry.plugin.kind === kind)) {
      throw new LighthouseError('LH_PLUGIN_LOAD', `${what}: a ${FAMILY_NAME[family]} plugin named "${kind}" is already registered`);
    }
    this.staged.push({ family, plugin: value as AnyPlugin } as Staged);
  }

  /** Registrations after this throw: a setup that timed out or failed and goes on running must not register anything. */
  close(): void {
    this.closed = true;
  }

  commit(): string[] {
    this.closed = true;
    for (const entry of this.staged) {
      if (entry.family === 'discovery') this.registries.discovery.register(entry.plugin);
      else if (entry.family === 'balancers') this.registries.balancers.register(entry.plugin);
      else this.registries.checks.register(entry.plugin);
    }
    return this.staged.map((entry) => `${FAMILY_NAME[entry.family]}:${entry.plugin.kind}`);
  }
}

function isSchema(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { safeParse?: unknown }).safeParse === 'function';
}
