import type { ClusterItem } from '../config/model.js';
import type { ClusterNode } from '../discovery/node.js';

/**
 * A member's zone for `status` and the dashboard: its metadata under the
 * cluster's `haproxy.zone_aware.metadata_key` (default `zone`), or null.
 */
export function memberZone(item: Pick<ClusterItem, 'balancer'>, node: Pick<ClusterNode, 'metadata'>): string | null {
  const section = item.balancer.haproxy as { zone_aware?: { metadata_key?: string } } | undefined;
  const value = node.metadata[section?.zone_aware?.metadata_key ?? 'zone'];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : null;
}
