import type { IEvent } from 'etcd3';
import type { Logger } from '../../lib/logger.js';
import { LighthouseError, errorMessage } from '../../lib/errors.js';
import { decodeNode, encodeNode } from '../codec.js';
import type { RegistrationHolder } from '../types.js';
import { nodeKey, type ClusterNode } from '../node.js';
import type { EtcdConnection } from './client.js';
import { registrationKey } from './keys.js';
import { RangeWatch } from './range-watch.js';
import type { LeaseSession } from './session.js';

export interface EtcdRegistrarOptions {
  connection: EtcdConnection;
  session: LeaseSession;
  prefix: string;
  logger: Logger;
  /** A registration of ours disappeared (or was taken by another lease) while we still want it and our lease is alive. */
  onLost?(service: string, key: string, holder?: RegistrationHolder): void;
}

interface Wanted {
  service: string;
  /** `host:port` */
  key: string;
  /** the lease it was written with: events after a lease change are the new lease's business */
  lease: string;
  data: Buffer;
  watch: RangeWatch;
  /** the lease that took the key over, once reported: watched on, so its delete is reported too */
  lostTo?: string;
}

/**
 * The reporter's side: `<prefix>/<service>/<host>:<port>` holding the node in
 * the original wire format (the same bytes as the ZooKeeper node data),
 * attached to the session's lease.
 *
 * Publishing is one transaction: "if the key already holds exactly this
 * value on our lease, do nothing, else put it on our lease". So re-publishing
 * (reconciliation, a new lease) writes only when something differs, and a
 * key left by a previous run of this machine is simply taken over.
 */
export class EtcdRegistrar {
  private readonly wanted = new Map<string, Wanted>();
  private closed = false;

  constructor(private readonly options: EtcdRegistrarOptions) {}

  async publish(service: string, node: ClusterNode): Promise<void> {
    const { connection, session } = this.options;
    const key = registrationKey(this.options.prefix, service, nodeKey(node));
    const data = Buffer.from(encodeNode(node), 'utf8');
    const lease = session.current() ?? (await session.awaitLease(connection.operationTimeoutMs));
    if (lease === undefined) {
      throw new LighthouseError('LH_ETCD_OPERATION', `no etcd lease to register with (${session.lastError ?? 'etcd not reached yet'})`, { znode: key });
    }
    const keyBytes = Buffer.from(key, 'utf8');
    const result = await connection.call('publish', key, () =>
      connection.kv.txn({
        compare: [
          { key: keyBytes, target: 'Value', result: 'Equal', value: data },
          { key: keyBytes, target: 'Lease', result: 'Equal', lease },
        ],
        success: [],
        failure: [{ request_put: { key: keyBytes, value: data, lease } }],
      }),
    );
    if (!result.succeeded) this.options.logger.info({ key, service, lease }, `registered ${nodeKey(node)} in ${service}`);
    this.watchOwn(key, { service, key: nodeKey(node), lease, data }, BigInt(result.header.revision) + 1n);
  }

  async unpublish(service: string, node: Pick<ClusterNode, 'host' | 'port'>): Promise<void> {
    const { connection } = this.options;
    const key = registrationKey(this.options.prefix, service, nodeKey(node));
    this.forget(key);
    const result = await connection.call('unpublish', key, () => connection.kv.deleteRange({ key: Buffer.from(key, 'utf8') }));
    if (Number(result.deleted) > 0) this.options.logger.info({ key, service }, `removed registration ${nodeKey(node)} from ${service}`);
  }

  async isPublished(service: string, node: ClusterNode): Promise<boolean> {
    const { connection, session } = this.options;
    const key = registrationKey(this.options.prefix, service, nodeKey(node));
    const lease = session.current();
    if (lease === undefined) return false;
    const result = await connection.call('read', key, () => connection.kv.range({ key: Buffer.from(key, 'utf8') }));
    const kv = result.kvs[0];
    return Boolean(kv && kv.lease === lease && kv.value.equals(Buffer.from(encodeNode(node), 'utf8')));
  }

  close(): void {
    this.closed = true;
    for (const key of [...this.wanted.keys()]) this.forget(key);
  }

  private forget(key: string): void {
    this.wanted.get(key)?.watch.close();
    this.wanted.delete(key);
  }

  /**
   * A watch on each registration, from just after our write: a delete or a
   * put by someone else is noticed at once (as the ZooKeeper plugin's
   * exists-watch does) rather than at the next reconciliation.
   */
  private watchOwn(key: string, wanted: Omit<Wanted, 'watch'>, fromRevision: bigint): void {
    const current = this.wanted.get(key);
    if (current && current.lease === wanted.lease && current.data.equals(wanted.data)) {
      // Written again by us: a later takeover is news again.
      current.lostTo = undefined;
      return;
    }
    current?.watch.close();
    if (this.closed) return;
    const entry: Wanted = {
      ...wanted,
      watch: new RangeWatch({
        connection: this.options.connection,
        key: Buffer.from(key, 'utf8'),
        fromRevision,
        onEvents: (events) => this.onOwnEvents(key, entry, events),
        onCompacted: () => void this.checkOwn(key, entry),
      }),
    };
    this.wanted.set(key, entry);
  }

  private onOwnEvents(key: string, entry: Wanted, events: IEvent[]): void {
    const last = events.at(-1);
    if (!last) return;
    if (last.type === 'Put' && last.kv.lease === entry.lease && last.kv.value.equals(entry.data)) return;
    void this.checkOwn(key, entry);
  }

  private async checkOwn(key: string, entry: Wanted): Promise<void> {
    const { connection, session } = this.options;
    if (this.wanted.get(key) !== entry) return;
    // Written with a lease we no longer hold: the new lease's onSession makes the reporter re-publish.
    if (session.current() !== entry.lease) return;
    let holder: { lease: string; value: Buffer } | undefined;
    let leaseAlive: boolean;
    try {
      const read = await connection.call('read', key, () => connection.kv.range({ key: Buffer.from(key, 'utf8') }));
      holder = read.kvs[0];
      if (holder?.lease === entry.lease) {
        entry.lostTo = undefined;
        return;
      }
      // Our keys vanish together when our lease expires: that is a lost session, not a lost registration.
      const ttl = await connection.call('lease ttl', entry.lease, () => connection.lease.leaseTimeToLive({ ID: entry.lease }));
      leaseAlive = Number(ttl.TTL) > 0;
    } catch (error) {
      // Unreachable: the reporter's reconciliation (isPublished) looks again later.
      this.options.logger.debug({ err: error, key }, `could not check own registration: ${errorMessage(error)}`);
      return;
    }
    if (this.wanted.get(key) !== entry) return;
    if (!leaseAlive) {
      session.checkNow();
      return;
    }
    if (holder) {
      // Taken over: reported once per holder, and still watched, so the reporter hears when it goes.
      if (entry.lostTo === holder.lease) return;
      entry.lostTo = holder.lease;
      const node = decodeNode(holder.value);
      const by: RegistrationHolder = { session: holder.lease, ...(node.ok ? { host: node.value.host, ip: node.value.ip } : {}) };
      this.options.logger.warn({ key, service: entry.service, lease: holder.lease }, `registration ${entry.key} in ${entry.service} was taken over by lease ${holder.lease}${by.host ? ` (${by.host}${by.ip ? ` ${by.ip}` : ''})` : ''}`);
      this.options.onLost?.(entry.service, entry.key, by);
      return;
    }
    this.options.logger.warn({ key, service: entry.service }, `registration ${entry.key} in ${entry.service} was deleted by someone else`);
    // Not wanted any more until the reporter publishes again, so one loss is reported once.
    this.forget(key);
    this.options.onLost?.(entry.service, entry.key);
  }
}
