import type { BalancedCluster, BalancerFrontend, BalancerStatusPage } from '../types.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';

/**
 * Where HAProxy serves each cluster, as the renderer writes it: the
 * cluster's own frontend (`haproxy.port`), or its meta-cluster's frontend
 * when it has an `acl` there. A cluster with neither has a backend only.
 */
export function haproxyFrontends(config: HaproxyConfig, clusters: readonly BalancedCluster<HaproxyClusterConfig>[]): Map<string, BalancerFrontend> {
  const frontends = new Map<string, BalancerFrontend>();
  const address = config.bind_address ?? null;
  for (const cluster of clusters) {
    if (cluster.metaCluster === undefined) {
      if (cluster.config.port !== undefined) frontends.set(cluster.name, { address, port: cluster.config.port, via: null });
      continue;
    }
    const meta = config.meta_clusters[cluster.metaCluster];
    if (meta && cluster.config.acl !== undefined) frontends.set(cluster.name, { address, port: meta.port, via: `meta-cluster "${cluster.metaCluster}" (acl ${cluster.config.acl})` });
  }
  return frontends;
}

/** HAProxy's own stats page, when the balancer file has a `stats:` listener. Its credentials stay out. */
export function haproxyStatusPage(config: HaproxyConfig): BalancerStatusPage | null {
  if (!config.stats) return null;
  return { address: config.stats.bind_address ?? config.bind_address ?? null, port: config.stats.port, path: config.stats.uri ?? '/', authenticated: config.stats.auth !== undefined };
}
