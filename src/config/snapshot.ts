import type { BalancerItem, ClusterItem, ConfigItem, ConfigProblem, DiscoveryItem, LoggingItem, PluginsItem, ServiceItem } from './model.js';

/** The items in force at one moment: the last good version of every file. */
export interface ConfigSnapshot {
  logging: LoggingItem | undefined;
  plugins: PluginsItem | undefined;
  balancers: ReadonlyMap<string, BalancerItem>;
  discovery: ReadonlyMap<string, DiscoveryItem>;
  clusters: ReadonlyMap<string, ClusterItem>;
  services: ReadonlyMap<string, ServiceItem>;
}

export function emptySnapshot(): ConfigSnapshot {
  return { logging: undefined, plugins: undefined, balancers: new Map(), discovery: new Map(), clusters: new Map(), services: new Map() };
}

export function snapshotOf(items: readonly ConfigItem[]): ConfigSnapshot {
  const balancers = new Map<string, BalancerItem>();
  const discovery = new Map<string, DiscoveryItem>();
  const clusters = new Map<string, ClusterItem>();
  const services = new Map<string, ServiceItem>();
  let logging: LoggingItem | undefined;
  let plugins: PluginsItem | undefined;
  for (const item of items) {
    switch (item.kind) {
      case 'logging':
        logging = item;
        break;
      case 'plugins':
        plugins = item;
        break;
      case 'balancer':
        balancers.set(item.name, item);
        break;
      case 'discovery':
        discovery.set(item.name, item);
        break;
      case 'cluster':
        clusters.set(item.name, item);
        break;
      case 'service':
        services.set(item.name, item);
        break;
    }
  }
  return { logging, plugins, balancers, discovery, clusters, services };
}

export interface ItemDiff<T> {
  added: T[];
  removed: T[];
  /** [previous, next] pairs whose content hash differs */
  changed: [T, T][];
}

/** Reconciliation is by name and content hash: equal hash, nothing to do. */
export function diffItems<T extends { name: string; hash: string }>(previous: ReadonlyMap<string, T>, next: ReadonlyMap<string, T>): ItemDiff<T> {
  const diff: ItemDiff<T> = { added: [], removed: [], changed: [] };
  for (const [name, item] of next) {
    const before = previous.get(name);
    if (!before) diff.added.push(item);
    else if (before.hash !== item.hash) diff.changed.push([before, item]);
  }
  for (const [name, item] of previous) if (!next.has(name)) diff.removed.push(item);
  return diff;
}

export function isEmptyDiff(diff: ItemDiff<unknown>): boolean {
  return diff.added.length === 0 && diff.removed.length === 0 && diff.changed.length === 0;
}

/** A cheap identity of a snapshot, to skip notifying consumers when a rescan changed nothing. */
export function snapshotFingerprint(snapshot: ConfigSnapshot): string {
  const parts: string[] = [`logging=${snapshot.logging?.hash ?? ''}`, `plugins=${snapshot.plugins?.hash ?? ''}`];
  for (const [label, map] of [
    ['balancer', snapshot.balancers],
    ['discovery', snapshot.discovery],
    ['cluster', snapshot.clusters],
    ['service', snapshot.services],
  ] as const) {
    for (const [name, item] of [...map].sort(([a], [b]) => a.localeCompare(b))) parts.push(`${label}/${name}=${item.hash}`);
  }
  return parts.join('\n');
}

function itemsOf(snapshot: ConfigSnapshot): ConfigItem[] {
  const items: ConfigItem[] = [...snapshot.balancers.values(), ...snapshot.discovery.values(), ...snapshot.clusters.values(), ...snapshot.services.values()];
  if (snapshot.logging) items.push(snapshot.logging);
  if (snapshot.plugins) items.push(snapshot.plugins);
  return items;
}

/** Every warning of the snapshot's items. */
export function snapshotWarnings(snapshot: ConfigSnapshot): ConfigProblem[] {
  return itemsOf(snapshot).flatMap((item) => item.warnings ?? []);
}

/**
 * Warnings of items parsed since `previous` (a file is parsed again only
 * when its text changed, giving a new item object): each is logged once per
 * version of its file, not on every rescan.
 */
export function newWarnings(previous: ConfigSnapshot | undefined, next: ConfigSnapshot): ConfigProblem[] {
  const known = new Set<ConfigItem>(previous ? itemsOf(previous) : []);
  return itemsOf(next).flatMap((item) => (known.has(item) ? [] : (item.warnings ?? [])));
}
