import { LighthouseError } from '../../lib/errors.js';
import type { RecordStore } from '../types.js';
import { registrationAcl, type DigestCredentials } from './acl.js';
import { znodePath } from './paths.js';
import { createEphemeral } from './create-ephemeral.js';
import type { ZkSession } from './session.js';
import { isBadVersion, isNodeExists, isNoNode } from './zk-errors.js';
import type { Acl, ZkClient } from './zk-client.js';

/** How often publish starts over when the znode changes between our read and our write. */
const MAX_ATTEMPTS = 3;

/**
 * Ephemeral `<folder>/<name>` znodes of one session (the writers'
 * acknowledgements). Once the znode is ours, a new record is one setData:
 * one write per change, which is what 10,000 writers cost the ensemble.
 */
export class ZkRecords implements RecordStore {
  private readonly acl: readonly Acl[];
  /** the znodes this session created, so the next record is a plain setData */
  private readonly owned = new Map<string, string>();
  private lostListener: ((name: string) => void) | undefined;

  constructor(
    private readonly session: ZkSession,
    readonly location: string,
    credentials: DigestCredentials | undefined,
  ) {
    this.acl = registrationAcl(credentials);
  }

  async publish(name: string, data: string): Promise<void> {
    const path = znodePath(this.location, name);
    const bytes = Buffer.from(data, 'utf8');
    const client = this.session.current();
    const sessionId = client.sessionId().toString('hex');
    if (this.owned.get(path) === sessionId) {
      try {
        await client.setData(path, bytes, -1);
        return;
      } catch (error) {
        if (!isNoNode(error)) throw error;
        this.owned.delete(path);
      }
    }
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const stat = await client.exists(path);
      try {
        if (!stat) await createEphemeral(client, path, bytes, this.acl);
        else if (stat.ephemeralOwner.equals(client.sessionId())) await client.setData(path, bytes, stat.version);
        // Left by an earlier session of this writer (a restart before the old session expired): replaced in one step.
        else await client.multi([{ op: 'remove', path, version: stat.version }, { op: 'create', path, data: bytes, acl: this.acl, ephemeral: true }]);
        this.owned.set(path, sessionId);
        this.watchOwn(name, path, sessionId);
        return;
      } catch (error) {
        if (isBadVersion(error) || isNoNode(error) || isNodeExists(error)) continue;
        throw error;
      }
    }
    throw new LighthouseError('LH_ZK_OPERATION', `the record changed under us ${MAX_ATTEMPTS} times in a row; will retry on the next change`, { znode: path });
  }

  onLost(listener: (name: string) => void): void {
    this.lostListener = listener;
  }

  /**
   * An exists watch on our own record: a delete by anyone but our session's
   * end tells the writer to write it again. Our own setData fires it too;
   * re-arming then is one read (served by the server we are connected to).
   */
  private watchOwn(name: string, path: string, sessionId: string): void {
    const client = this.session.current();
    const watcher = (event: { type: string }): void => {
      if (this.owned.get(path) !== sessionId || !this.sameClient(client)) return;
      if (event.type === 'deleted') {
        this.owned.delete(path);
        this.lostListener?.(name);
      } else {
        client.exists(path, watcher).catch(() => undefined);
      }
    };
    client.exists(path, watcher).catch(() => undefined);
  }

  /** False once the session moved on (a new client after an expiry) or was closed. */
  private sameClient(client: ZkClient): boolean {
    try {
      return this.session.current() === client;
    } catch {
      return false;
    }
  }

  async read(): Promise<Map<string, string>> {
    const client = this.session.current();
    let names: string[];
    try {
      names = (await client.getChildren(this.location)).children;
    } catch (error) {
      if (isNoNode(error)) return new Map();
      throw error;
    }
    // Pipelined on the one connection: one round trip for the whole folder.
    const reads = await Promise.allSettled(names.map((name) => client.getData(`${this.location}/${name}`)));
    const records = new Map<string, string>();
    reads.forEach((read, index) => {
      if (read.status === 'fulfilled') records.set(names[index]!, read.value.data.toString('utf8'));
      else if (!isNoNode(read.reason)) throw read.reason;
    });
    return records;
  }
}
