import type { Logger } from '../../lib/logger.js';
import { LighthouseError } from '../../lib/errors.js';
import { decodeNode, encodeNode } from '../codec.js';
import type { RegistrationHolder } from '../types.js';
import { nodeKey, type ClusterNode } from '../node.js';
import { registrationAcl, type DigestCredentials } from './acl.js';
import { znodePath } from './paths.js';
import { createEphemeral } from './create-ephemeral.js';
import type { ZkSession } from './session.js';
import { isBadVersion, isNodeExists, isNoNode } from './zk-errors.js';
import type { Acl, Stat, WatchEvent, ZkClient } from './zk-client.js';

export interface RegistrarOptions {
  session: ZkSession;
  basePath: string;
  credentials?: DigestCredentials;
  logger: Logger;
  /** A registration of ours disappeared (or was taken by another session) while we still want it. */
  onLost?(service: string, key: string, holder?: RegistrationHolder): void;
}

/** How often publish re-reads and retries when the znode changes between our read and our write. */
const MAX_ATTEMPTS = 3;

/**
 * The reporter's side: ephemeral `<path>/<service>/<host>:<port>` znodes
 * holding the node in the original wire format.
 *
 * Writes are conditional on what was just read (versions), so two writers
 * racing for the same znode cannot clobber each other silently, and every
 * operation is idempotent: the reporter calls publish again after a new
 * session and whenever it reconciles.
 */
export class Registrar {
  /** What this instance wants registered, by znode path: to recognise our own nodes in watch events. */
  private readonly wanted = new Map<string, { service: string; key: string }>();
  private readonly acl: readonly Acl[];

  constructor(private readonly options: RegistrarOptions) {
    this.acl = registrationAcl(options.credentials);
  }

  async publish(service: string, node: ClusterNode): Promise<void> {
    const key = nodeKey(node);
    const path = znodePath(this.options.basePath, service, key);
    const data = Buffer.from(encodeNode(node), 'utf8');
    if (!this.wanted.has(path)) this.wanted.set(path, { service, key });
    const client = this.options.session.current();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      // Reading with a watch also arms the "lost registration" watch when the znode is there.
      const existing = await this.read(client, path);
      if (!existing) {
        try {
          await createEphemeral(client, path, data, this.acl);
          await client.exists(path, this.onOwnEvent);
          this.options.logger.info({ znode: path, service }, `registered ${key} in ${service}`);
          return;
        } catch (error) {
          if (isNodeExists(error)) continue;
          throw error;
        }
      }
      if (existing.stat.ephemeralOwner.equals(client.sessionId())) {
        if (existing.data.equals(data)) return;
        // Replaced, not setData: the original's writers watch only the child
        // list, and a delete + create fires it. One multi, so no reader sees
        // the node missing, and only if it is still the version we read.
        try {
          await client.multi([
            { op: 'remove', path, version: existing.stat.version },
            { op: 'create', path, data, acl: this.acl, ephemeral: true },
          ]);
          await client.exists(path, this.onOwnEvent);
          this.options.logger.info({ znode: path, service }, `updated registration ${key} in ${service}`);
          return;
        } catch (error) {
          if (isBadVersion(error) || isNoNode(error) || isNodeExists(error)) continue;
          throw error;
        }
      }
      // Left by another session: a previous run of this machine, or our own
      // expired session whose znode the server has not removed yet. Replace it
      // in one step, and only if it is still the version we read.
      try {
        await client.multi([
          { op: 'remove', path, version: existing.stat.version },
          { op: 'create', path, data, acl: this.acl, ephemeral: true },
        ]);
        await client.exists(path, this.onOwnEvent);
        this.options.logger.info({ znode: path, service, previousOwner: existing.stat.ephemeralOwner.toString('hex') }, `took over registration ${key} in ${service}`);
        return;
      } catch (error) {
        if (isBadVersion(error) || isNoNode(error) || isNodeExists(error)) continue;
        throw error;
      }
    }
    throw new LighthouseError('LH_ZK_OPERATION', `the registration changed under us ${MAX_ATTEMPTS} times in a row; will retry on the next report`, { znode: path });
  }

  async unpublish(service: string, node: Pick<ClusterNode, 'host' | 'port'>): Promise<void> {
    const key = nodeKey(node);
    const path = znodePath(this.options.basePath, service, key);
    this.wanted.delete(path);
    try {
      await this.options.session.current().remove(path, -1);
      this.options.logger.info({ znode: path, service }, `removed registration ${key} from ${service}`);
    } catch (error) {
      if (!isNoNode(error)) throw error;
    }
  }

  async isPublished(service: string, node: ClusterNode): Promise<boolean> {
    const path = znodePath(this.options.basePath, service, nodeKey(node));
    const client = this.options.session.current();
    const existing = await this.read(client, path, false);
    return Boolean(existing && existing.stat.ephemeralOwner.equals(client.sessionId()) && existing.data.equals(Buffer.from(encodeNode(node), 'utf8')));
  }

  private async read(client: ZkClient, path: string, watch = true): Promise<{ data: Buffer; stat: Stat } | undefined> {
    try {
      return await client.getData(path, watch ? this.onOwnEvent : undefined);
    } catch (error) {
      if (isNoNode(error)) return undefined;
      throw error;
    }
  }

  /** Our registration changed: if it is gone or no longer ours while still wanted, say so. */
  private readonly onOwnEvent = (event: WatchEvent): void => {
    const wanted = this.wanted.get(event.path);
    if (!wanted) return;
    void this.checkOwn(event.path, wanted);
  };

  private async checkOwn(path: string, wanted: { service: string; key: string }): Promise<void> {
    let client: ZkClient;
    let stat: Stat | null;
    try {
      client = this.options.session.current();
      stat = await client.exists(path, this.onOwnEvent);
    } catch (error) {
      // Disconnected: a resumed session replays the event, a new one makes the reporter re-publish everything.
      this.options.logger.debug({ err: error, znode: path }, 'could not check own registration');
      return;
    }
    if (this.wanted.get(path) !== wanted) return;
    if (stat && stat.ephemeralOwner.equals(client.sessionId())) return;
    const holder = stat ? await this.holder(client, path, stat) : undefined;
    if (this.wanted.get(path) !== wanted) return;
    const by = holder ? ` by session 0x${holder.session}${holder.host ? ` (${holder.host}${holder.ip ? ` ${holder.ip}` : ''})` : ''}` : '';
    this.options.logger.warn({ znode: path, service: wanted.service, owner: holder?.session }, `registration ${wanted.key} in ${wanted.service} was ${stat ? `taken over${by}` : 'deleted by someone else'}`);
    this.options.onLost?.(wanted.service, wanted.key, holder);
  }

  /** Who holds `path` now: its session, and the host it registered (one more read, only on a loss). */
  private async holder(client: ZkClient, path: string, stat: Stat): Promise<RegistrationHolder> {
    const holder: RegistrationHolder = { session: stat.ephemeralOwner.toString('hex') };
    try {
      const node = decodeNode((await client.getData(path)).data);
      if (node.ok) Object.assign(holder, { host: node.value.host, ip: node.value.ip });
    } catch {
      // Gone again or unreadable: the session id alone still names it.
    }
    return holder;
  }
}
