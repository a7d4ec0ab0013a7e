import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decodeNode, encodeNodeCached } from '../discovery/codec.js';
import type { ClusterNode } from '../discovery/node.js';
import { atomicWrite } from '../lib/atomic-write.js';

/**
 * The writer's last known member sets, kept on disk so that a writer
 * restarted while discovery is unreachable does not start (or re-sync) the
 * load balancer with empty backends. Nodes are stored in the wire format and
 * decoded as strictly as fresh znodes, so an edited cache cannot inject
 * anything either.
 */
export function memberCachePath(configDir: string): string {
  return join(configDir, '.state', 'writer-members.json');
}

type CacheFile = { version: 1; clusters: Record<string, string[]> };

export async function loadMemberCache(path: string): Promise<Map<string, ClusterNode[]>> {
  const clusters = new Map<string, ClusterNode[]>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return clusters; // none yet, or unreadable: start from discovery alone
  }
  const file = parsed as Partial<CacheFile>;
  if (file.version !== 1 || typeof file.clusters !== 'object' || file.clusters === null) return clusters;
  for (const [cluster, encoded] of Object.entries(file.clusters)) {
    if (!Array.isArray(encoded)) continue;
    const nodes: ClusterNode[] = [];
    for (const data of encoded) {
      if (typeof data !== 'string') continue;
      const decoded = decodeNode(data);
      if (decoded.ok) nodes.push(decoded.value);
    }
    clusters.set(cluster, nodes);
  }
  return clusters;
}

export async function saveMemberCache(path: string, clusters: ReadonlyMap<string, readonly ClusterNode[]>): Promise<void> {
  const file: CacheFile = { version: 1, clusters: {} };
  for (const [cluster, nodes] of clusters) file.clusters[cluster] = nodes.map(encodeNodeCached);
  await mkdir(dirname(path), { recursive: true });
  await atomicWrite(path, `${JSON.stringify(file)}\n`, 0o600);
}
