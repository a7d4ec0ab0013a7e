import type { BalancedCluster } from '../balancer/types.js';
import type { ClusterNode } from '../discovery/node.js';
import type { BalancerItem } from '../config/model.js';
import type { ConfigSnapshot } from '../config/snapshot.js';
import type { BalancerPlugin } from '../balancer/plugin-types.js';

/**
 * The clusters of a config dir as one balancer receives them from the writer:
 * a cluster without a section for this balancer kind gets the section's
 * defaults. `members`: per cluster, the members to render (none for a check).
 */
export function balancedClusters(snapshot: ConfigSnapshot, balancerItem: BalancerItem, plugin: BalancerPlugin, members: ReadonlyMap<string, readonly ClusterNode[]> = new Map()): BalancedCluster[] {
  return [...snapshot.clusters.values()].map((item) => {
    let config = item.balancer[balancerItem.plugin];
    if (config === undefined) {
      const defaults = plugin.clusterSchema.safeParse({});
      config = defaults.success ? defaults.data : {};
    }
    return { name: item.name, metaCluster: item.metaCluster, config, members: members.get(item.name) ?? [] };
  });
}
