import { LighthouseError } from '../lib/errors.js';
import type { DiscoveryPlugin } from '../discovery/plugin-types.js';
import type { BalancerPlugin } from '../balancer/plugin-types.js';
import type { CheckPlugin } from '../checks/plugin-types.js';

/** A typed registry of one plugin family; plugins are registered explicitly, never looked up by file name. */
export class Registry<P extends { kind: string }> {
  private readonly plugins = new Map<string, P>();

  constructor(private readonly family: string) {}

  register(plugin: P): void {
    if (this.plugins.has(plugin.kind)) {
      throw new LighthouseError('LH_PLUGIN_LOAD', `a ${this.family} plugin named "${plugin.kind}" is already registered`);
    }
    this.plugins.set(plugin.kind, plugin);
  }

  get(kind: string): P | undefined {
    return this.plugins.get(kind);
  }

  kinds(): string[] {
    return [...this.plugins.keys()].sort();
  }
}

export interface PluginRegistries {
  discovery: Registry<DiscoveryPlugin>;
  balancers: Registry<BalancerPlugin>;
  checks: Registry<CheckPlugin>;
}

export function createRegistries(): PluginRegistries {
  return {
    discovery: new Registry<DiscoveryPlugin>('discovery'),
    balancers: new Registry<BalancerPlugin>('balancer'),
    checks: new Registry<CheckPlugin>('check'),
  };
}
