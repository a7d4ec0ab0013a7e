import type { BalancedCluster, BalancerProblem } from '../types.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';

type Cluster = BalancedCluster<HaproxyClusterConfig>;

export interface CrossCheckResult {
  /** clusters that can be rendered */
  accepted: Cluster[];
  /** one per rejected cluster (or conflict), naming the cluster */
  problems: BalancerProblem[];
}

interface Listener {
  owner: string;
  address: string | undefined;
  port: number;
}

const ANY_ADDRESS = new Set([undefined, '', '*', '0.0.0.0', '::']);

function overlaps(a: Listener, b: Listener): boolean {
  return a.port === b.port && (a.address === b.address || ANY_ADDRESS.has(a.address) || ANY_ADDRESS.has(b.address));
}

/**
 * Checks that need both the balancer file and the cluster files. A cluster
 * that fails them is left out of the config (and reported) instead of
 * blocking every other cluster. Where two clusters want the same port, the
 * one that already had it (`previousPorts`) keeps it, so editing one cluster
 * file can never take a working frontend away from another.
 */
export function crossCheck(config: HaproxyConfig, clusters: readonly Cluster[], previousPorts: ReadonlyMap<string, number> = new Map()): CrossCheckResult {
  const problems: BalancerProblem[] = [];
  const accepted: Cluster[] = [];
  const reject = (cluster: Cluster, message: string): void => {
    problems.push({ subject: `cluster "${cluster.name}"`, message: `cluster "${cluster.name}" left out of HAProxy: ${message}` });
  };

  const listeners: Listener[] = [];
  for (const [name, meta] of Object.entries(config.meta_clusters)) listeners.push({ owner: `meta-cluster "${name}"`, address: config.bind_address, port: meta.port });
  for (const [name, proxy] of Object.entries(config.proxies)) listeners.push({ owner: `proxy "${name}"`, address: proxy.bind_address ?? config.bind_address, port: proxy.port });
  if (config.stats) listeners.push({ owner: 'the stats listener', address: config.stats.bind_address ?? config.bind_address, port: config.stats.port });

  const reserved = new Map<string, string>();
  for (const name of Object.keys(config.proxies)) reserved.set(name, `proxy "${name}"`);
  if (config.stats) reserved.set('stats', 'the stats listener');

  // Clusters that held their port before claim first; then by name, so the outcome does not depend on input order.
  const ordered = [...clusters].sort((a, b) => {
    const aKept = previousPorts.get(a.name) === a.config.port ? 0 : 1;
    const bKept = previousPorts.get(b.name) === b.config.port ? 0 : 1;
    return aKept - bKept || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });

  for (const cluster of ordered) {
    const { port, acl } = cluster.config;
    const meta = cluster.metaCluster;
    const sameName = reserved.get(cluster.name);
    if (sameName) {
      reject(cluster, `its name is already used by ${sameName} in the balancer file`);
      continue;
    }
    if (meta !== undefined) {
      if (!(meta in config.meta_clusters)) {
        reject(cluster, `meta_cluster "${meta}" is not defined under meta_clusters in the balancer file (defined: ${Object.keys(config.meta_clusters).join(', ') || 'none'})`);
        continue;
      }
      if (port !== undefined) {
        reject(cluster, `haproxy.port is not allowed for a member of meta-cluster "${meta}": it is reached through the meta-cluster's port ${config.meta_clusters[meta]!.port}`);
        continue;
      }
    } else {
      if (acl !== undefined) {
        reject(cluster, 'haproxy.acl only routes inside a meta-cluster frontend: set meta_cluster or remove acl');
        continue;
      }
      if (port !== undefined && cluster.name in config.meta_clusters) {
        reject(cluster, `its frontend would have the same name as meta-cluster "${cluster.name}"`);
        continue;
      }
    }
    if (port !== undefined && meta === undefined) {
      const mine: Listener = { owner: `cluster "${cluster.name}"`, address: config.bind_address, port };
      const clash = listeners.find((other) => overlaps(other, mine));
      if (clash) {
        reject(cluster, `haproxy.port ${port} is already used by ${clash.owner}`);
        continue;
      }
      listeners.push(mine);
    }
    accepted.push(cluster);
  }
  accepted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { accepted, problems };
}
