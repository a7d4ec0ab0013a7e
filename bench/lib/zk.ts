import { encodeNode } from '../../src/discovery/codec.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import { mkdirs } from '../../test/support/zookeeper.js';

export interface BenchNode {
  host: string;
  port: number;
}

/** Node data exactly as a reporter writes it (the wire format of SPEC §3). */
export function nodeData(node: BenchNode, metadata: Record<string, number> = {}): Buffer {
  return Buffer.from(encodeNode({ host: node.host, ip: '127.0.0.1', port: node.port, metadata, peer: { name: node.host, ip: '127.0.0.1', port: 1024 } }), 'utf8');
}

export function nodePath(base: string, cluster: string, node: BenchNode): string {
  return `${base}/${cluster}/${node.host}:${node.port}`;
}

/**
 * Creates many member znodes, pipelined in batches (sequential creates of
 * 10,000 nodes take several seconds). Persistent, so the bench client's
 * session does not matter; each scenario uses its own base path.
 */
export async function createNodes(client: ZkClient, base: string, members: { cluster: string; node: BenchNode }[]): Promise<void> {
  const clusters = new Set(members.map((member) => member.cluster));
  for (const cluster of clusters) await mkdirs(client, `${base}/${cluster}`);
  const BATCH = 500;
  for (let index = 0; index < members.length; index += BATCH) {
    await Promise.all(members.slice(index, index + BATCH).map(({ cluster, node }) => client.create(nodePath(base, cluster, node), nodeData(node), OPEN_ACL, false)));
  }
}

export async function createNode(client: ZkClient, base: string, cluster: string, node: BenchNode): Promise<void> {
  await client.create(nodePath(base, cluster, node), nodeData(node), OPEN_ACL, false);
}

export async function deleteNode(client: ZkClient, base: string, cluster: string, node: BenchNode): Promise<void> {
  await client.remove(nodePath(base, cluster, node), -1);
}
