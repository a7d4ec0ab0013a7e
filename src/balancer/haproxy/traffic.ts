import { nodeKey, nodeKeyCached, type ClusterNode, type MetadataValue } from '../../discovery/node.js';
import type { HaproxyClusterConfig, WeightsConfig, ZoneAwareConfig } from './schema.js';

/** Where one member stands in its cluster's traffic, as this writer routes it. */
export interface MemberTraffic {
  /** the member's zone from its metadata, when it has one */
  zone: string | undefined;
  /** HAProxy weight; undefined: the cluster sets none (server_options or HAProxy's default decide) */
  weight: number | undefined;
  /** stands by as an HAProxy `backup` server: used only while no active server of the backend is usable */
  backup: boolean;
}

/** The zone decision of one cluster, for the log, `status` and the dashboard. */
export interface ZoneRouting {
  /** this writer's zone */
  zone: string;
  /** listed members in the writer's zone */
  sameZone: number;
  members: number;
  /** too few same-zone members: every member is active */
  spilled: boolean;
}

export interface ClusterTraffic {
  /** by `host:port` */
  members: Map<string, MemberTraffic>;
  /** undefined when the cluster is not zone-aware or the writer has no zone */
  zone: ZoneRouting | undefined;
  /** members whose metadata weight could not be used, for the log */
  problems: string[];
}

/**
 * Roles and weights of a cluster's members. Pure: the same members and
 * settings give the same answer, so the rendered file, the runtime API and a
 * reload all agree on who is a backup and what weighs what.
 *
 * Spillover: same-zone members are active; other zones' members (and members
 * without a zone) are `backup` servers, which HAProxy sends traffic to only
 * when no active server is usable (all down or in maintenance; `option
 * allbackups` then uses all of them). When fewer than `min_members`
 * same-zone members are listed, or they are fewer than `min_fraction` of all
 * members, the cluster spills over: every member is active and shares the
 * traffic by weight. It comes back as soon as the zone is above both again.
 */
export function clusterTraffic(writerZone: string | undefined, config: Pick<HaproxyClusterConfig, 'zone_aware' | 'weights'>, members: readonly ClusterNode[]): ClusterTraffic {
  const problems: string[] = [];
  const result = new Map<string, MemberTraffic>();
  const zoneAware = writerZone === undefined ? undefined : config.zone_aware;
  const zoneOf = (node: ClusterNode): string | undefined => (config.zone_aware ? text(node.metadata[config.zone_aware.metadata_key]) : undefined);
  let zone: ZoneRouting | undefined;
  if (zoneAware && writerZone !== undefined) {
    const keys = new Set(members.map(nodeKeyCached));
    const same = new Set(members.filter((node) => zoneOf(node) === writerZone).map(nodeKeyCached));
    zone = { zone: writerZone, sameZone: same.size, members: keys.size, spilled: spills(zoneAware, same.size, keys.size) };
  }
  for (const node of members) {
    const key = nodeKeyCached(node);
    if (result.has(key)) continue;
    const memberZone = zoneOf(node);
    const backup = zone !== undefined && !zone.spilled && memberZone !== zone.zone;
    result.set(key, { zone: memberZone, weight: config.weights ? weightOf(config.weights, node, problems) : undefined, backup });
  }
  return { members: result, zone, problems };
}

function spills(settings: ZoneAwareConfig, same: number, all: number): boolean {
  if (same < settings.min_members) return true;
  return all > 0 && same / all < settings.min_fraction;
}

function weightOf(settings: WeightsConfig, node: ClusterNode, problems: string[]): number {
  const raw = node.metadata[settings.metadata_key];
  if (raw !== undefined && raw !== null) {
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,3}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (Number.isInteger(value) && value >= 0 && value <= 256) return value;
    problems.push(`node ${JSON.stringify(nodeKey(node))}: metadata ${settings.metadata_key} ${JSON.stringify(raw)} is not a weight (an integer 0-256); its weight comes from the cluster's rules`);
  }
  for (const rule of settings.rules) {
    if (Object.entries(rule.match).every(([key, value]) => text(node.metadata[key]) === String(value))) return rule.weight;
  }
  return settings.default;
}

/** A scalar metadata value as text (zone names, rule values); undefined for anything else. */
function text(value: MetadataValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
