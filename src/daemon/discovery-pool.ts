import type { DiscoveryItem } from '../config/model.js';
import type { Logger } from '../lib/logger.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { diffItems } from '../config/snapshot.js';
import type { Discovery, DiscoveryEvents } from '../discovery/types.js';

export interface PooledDiscovery {
  item: DiscoveryItem;
  instance: Discovery;
}

export interface PoolChange {
  /** names whose instance is new (added or replaced): users must move to it */
  started: string[];
  /** instances that were replaced or removed: close them once users have moved */
  retired: PooledDiscovery[];
}

/**
 * One Discovery instance per `discovery/*.yaml` item, kept in line with the
 * config. A changed item (new hosts, new path) gets a fresh instance next to
 * the old one, so users can switch over before the old one is closed.
 */
export class DiscoveryPool {
  private readonly entries = new Map<string, PooledDiscovery>();

  constructor(
    private readonly registries: PluginRegistries,
    private readonly logger: Logger,
    /** `instance`: which of two instances of one name (during a switch-over) the events come from */
    private readonly eventsFor: (name: string, instance: Discovery) => DiscoveryEvents = () => ({}),
  ) {}

  get(name: string): PooledDiscovery | undefined {
    return this.entries.get(name);
  }

  all(): PooledDiscovery[] {
    return [...this.entries.values()];
  }

  reconcile(items: ReadonlyMap<string, DiscoveryItem>): PoolChange {
    const current = new Map([...this.entries].map(([name, entry]) => [name, entry.item]));
    const diff = diffItems(current, items);
    const change: PoolChange = { started: [], retired: [] };
    for (const item of diff.removed) {
      change.retired.push(this.entries.get(item.name)!);
      this.entries.delete(item.name);
      this.logger.info({ discovery: item.name }, 'discovery removed');
    }
    for (const item of [...diff.added, ...diff.changed.map(([, next]) => next)]) {
      const plugin = this.registries.discovery.get(item.plugin);
      if (!plugin) continue; // parse already rejected the file; nothing new to start
      const previous = this.entries.get(item.name);
      let instance: Discovery;
      try {
        instance = plugin.create(item.config, { logger: this.logger.child({ module: `discovery:${item.name}` }), name: item.name, file: item.file, now: Date.now });
      } catch (error) {
        this.logger.error({ err: error, file: item.file }, `${item.file}: cannot start discovery "${item.name}"`);
        continue;
      }
      instance.connect(this.eventsFor(item.name, instance));
      this.entries.set(item.name, { item, instance });
      if (previous) change.retired.push(previous);
      change.started.push(item.name);
      this.logger.info({ discovery: item.name, plugin: item.plugin }, previous ? 'discovery settings changed: switching to a new session' : 'discovery started');
    }
    return change;
  }

  async retire(entries: readonly PooledDiscovery[]): Promise<void> {
    await Promise.all(entries.map((entry) => entry.instance.close().catch((error: unknown) => this.logger.warn({ err: error }, `closing discovery "${entry.item.name}" failed`))));
  }

  async close(): Promise<void> {
    const entries = this.all();
    this.entries.clear();
    await this.retire(entries);
  }
}
