import type { BalancedCluster, BalancerProblem } from '../types.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';
import { balancerListeners, clashMessage, clusterListeners, firstClash, type Listener } from './listen-addresses.js';

type Cluster = BalancedCluster<HaproxyClusterConfig>;

export interface CrossCheckResult {
  /** clusters that can be rendered */
  accepted: Cluster[];
  /** one per rejected cluster (or conflict), naming the cluster */
  problems: BalancerProblem[];
  /** accepted cluster -> what it listens on: pass it back as `previous` so those clusters keep their addresses */
  held: Map<string, string>;
}

/**
 * Checks that need both the balancer file and the cluster files. A cluster
 * that fails them is left out of the config (and reported) instead of
 * blocking every other cluster. Where two clusters want the same address
 * (`haproxy.port` or a `bind` line, any overlap of host and port), the one
 * that already listened there unchanged (`previous`, from the last result's
 * `held`) keeps it, so editing one cluster file can never take a working
 * frontend away from another.
 */
export function crossCheck(config: HaproxyConfig, clusters: readonly Cluster[], previous: ReadonlyMap<string, string> = new Map()): CrossCheckResult {
  const problems: BalancerProblem[] = [];
  const accepted: Cluster[] = [];
  const reject = (cluster: Cluster, message: string): void => {
    problems.push({ subject: `cluster "${cluster.name}"`, message: `cluster "${cluster.name}" left out of HAProxy: ${message}` });
  };

  const listeners: Listener[] = balancerListeners(config);
  const held = new Map<string, string>();
  const own = new Map(clusters.map((cluster) => [cluster.name, clusterListeners(config.bind_address, cluster.name, cluster.metaCluster, cluster.config)]));
  const fingerprints = new Map([...own].map(([name, mine]) => [name, listenerFingerprint(mine)]));
  const fingerprint = (cluster: Cluster): string => fingerprints.get(cluster.name)!;

  const reserved = new Map<string, string>();
  for (const name of Object.keys(config.proxies)) reserved.set(name, `proxy "${name}"`);
  if (config.stats) reserved.set('stats', 'the stats listener');

  // Clusters that held their port before claim first; then by name, so the outcome does not depend on input order.
  const ordered = [...clusters].sort((a, b) => {
    const aKept = previous.get(a.name) === fingerprint(a) ? 0 : 1;
    const bKept = previous.get(b.name) === fingerprint(b) ? 0 : 1;
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
    const mine = own.get(cluster.name)!;
    const clash = firstClash(listeners, mine);
    if (clash) {
      reject(cluster, clashMessage(...clash));
      continue;
    }
    listeners.push(...mine);
    if (mine.length > 0) held.set(cluster.name, fingerprint(cluster));
    accepted.push(cluster);
  }
  accepted.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { accepted, problems, held };
}

function listenerFingerprint(mine: readonly Listener[]): string {
  return JSON.stringify(mine.map(({ host, low, high }) => [host, low, high]));
}

/**
 * What each of `clusters` listens on, as `crossCheck` takes it in `previous`:
 * for the clusters actually installed, which after a refused change are not
 * always the ones `crossCheck` accepted.
 */
export function heldListeners(config: HaproxyConfig, clusters: readonly Cluster[]): Map<string, string> {
  const held = new Map<string, string>();
  for (const cluster of clusters) {
    const mine = clusterListeners(config.bind_address, cluster.name, cluster.metaCluster, cluster.config);
    if (mine.length > 0) held.set(cluster.name, listenerFingerprint(mine));
  }
  return held;
}
