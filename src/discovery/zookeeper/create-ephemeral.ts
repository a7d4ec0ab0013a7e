import { ancestors } from './paths.js';
import { isNodeExists, isNoNode } from './zk-errors.js';
import type { Acl, ZkClient } from './zk-client.js';

/**
 * Creates the ephemeral leaf; only when its folder is missing are the
 * folders created, persistent (mkdirp with EPHEMERAL would make every level
 * ephemeral, and an ephemeral folder cannot have children). The folder
 * creates are pipelined: one session's requests are applied in order.
 * Registrations and writers' acknowledgement records both land this way.
 */
export async function createEphemeral(client: ZkClient, path: string, data: Buffer, acl: readonly Acl[]): Promise<void> {
  try {
    await client.create(path, data, acl, true);
    return;
  } catch (error) {
    if (!isNoNode(error)) throw error;
  }
  const folders = await Promise.allSettled(ancestors(path).map((folder) => client.create(folder, Buffer.alloc(0), acl, false)));
  for (const result of folders) if (result.status === 'rejected' && !isNodeExists(result.reason)) throw result.reason;
  await client.create(path, data, acl, true);
}
