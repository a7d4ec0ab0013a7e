import type { IEvent, IKeyValue } from 'etcd3';
import { Backoff } from '../../lib/backoff.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Result } from '../../lib/result.js';
import { decodeNode } from '../codec.js';
import { MemberSetBuilder } from '../member-set-builder.js';
import { nodeKeyCached, type ClusterNode } from '../node.js';
import type { ClusterWatch, MemberSet } from '../types.js';
import type { EtcdConnection } from './client.js';
import { keyAfter, prefixEnd } from './keys.js';
import type { HistoryNotice } from './history-notice.js';
import { RangeWatch } from './range-watch.js';

/** Keys per range request: big clusters are read in pages, never in one response that could exceed gRPC's message limit. */
const PAGE_SIZE = 1000;

interface Entry {
  modRevision: bigint;
  node: Result<ClusterNode>;
  /** named for the host:port its value holds (see MemberSetBuilder) */
  nameIsKey: boolean;
}

export interface EtcdClusterWatcherOptions {
  connection: EtcdConnection;
  /** `<prefix>/<cluster>/` */
  folder: string;
  cluster: string;
  onMembers(set: MemberSet): void;
  logger: Logger;
  /** shared by the clusters of one discovery, so etcd losing its history is logged once */
  historyNotice?: HistoryNotice;
  pageSize?: number;
}

/**
 * Watches the members of one cluster, the keys under `<prefix>/<cluster>/`.
 *
 * One consistent range read (paged, all pages at the revision of the first)
 * gives the members and the revision they are valid at; a watch from the
 * next revision then delivers every change after it, also across
 * reconnects. Each change costs etcd nothing but the event itself: no
 * re-read, whatever the cluster's size. Only when the watch reports that the
 * history it needs is gone (compacted, or etcd restarted without its data)
 * is the cluster read again in full, as after a ZooKeeper session expiry.
 *
 * While etcd is unreachable nothing is reported (the core keeps the last
 * members); the watch resumes where it stopped.
 */
export class EtcdClusterWatcher implements ClusterWatch {
  private entries = new Map<string, Entry>();
  /** the revision the set is valid at: the read's, then each applied event's */
  private version = 0n;
  private watch: RangeWatch | undefined;
  private closed = false;
  private readonly members: MemberSetBuilder;
  private readonly backoff = new Backoff(100, 5_000);
  private retryTimer: NodeJS.Timeout | undefined;
  private lastFailure: string | undefined;
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;
  /** full reads so far (1 = never had to re-read): for tests and logs */
  reads = 0;

  constructor(private readonly options: EtcdClusterWatcherOptions) {
    this.members = new MemberSetBuilder(options.cluster, options.logger, options.onMembers);
    this.key = Buffer.from(options.folder, 'utf8');
    this.rangeEnd = prefixEnd(this.key);
    void this.read();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watch?.close();
    this.watch = undefined;
  }

  /** The revision the watch continues from (for tests). */
  get revision(): bigint | undefined {
    return this.watch?.revision;
  }

  private async read(): Promise<void> {
    if (this.closed) return;
    let revision: bigint;
    let clusterId: string;
    let kvs: IKeyValue[];
    try {
      ({ revision, clusterId, kvs } = await this.readAll());
    } catch (error) {
      if (this.closed) return;
      this.reportFailure(error);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.read();
      }, this.backoff.next());
      this.retryTimer.unref();
      return;
    }
    if (this.closed) return;
    this.backoff.reset();
    this.lastFailure = undefined;
    this.reads += 1;
    const entries = new Map<string, Entry>();
    for (const kv of kvs) entries.set(kv.key.toString('utf8'), this.decode(kv));
    this.entries = entries;
    this.version = revision;
    this.emit();
    this.watch = new RangeWatch({
      connection: this.options.connection,
      key: this.key,
      rangeEnd: this.rangeEnd,
      fromRevision: revision + 1n,
      clusterId,
      readKeys: kvs,
      onEvents: (events) => this.apply(events),
      onCompacted: (compactRevision) => {
        this.watch = undefined;
        this.options.logger.warn(
          { code: 'LH_ETCD_HISTORY_LOST', cluster: this.options.cluster, compactRevision: compactRevision.toString() },
          `cluster ${this.options.cluster}: etcd compacted the history the watch needed (up to revision ${compactRevision}); reading the cluster again`,
        );
        void this.read();
      },
      onHistoryLost: (lost) => {
        this.watch = undefined;
        const fields = { cluster: this.options.cluster, key: this.options.folder, revision: lost.revision.toString(), lastSeen: lost.lastSeen.toString() };
        const message = `etcd's history changed under the watch (${lost.reason})`;
        if (this.options.historyNotice) this.options.historyNotice.report(fields, message);
        else this.options.logger.warn({ code: 'LH_ETCD_HISTORY_LOST', ...fields }, `cluster ${this.options.cluster}: ${message}; reading the cluster again`);
        void this.read();
      },
      onBroken: (error) => this.reportFailure(error),
    });
  }

  /** Every key of the cluster at one revision, a page at a time. */
  private async readAll(): Promise<{ revision: bigint; clusterId: string; kvs: IKeyValue[] }> {
    const { connection } = this.options;
    const limit = this.options.pageSize ?? PAGE_SIZE;
    const kvs: IKeyValue[] = [];
    let revision: string | undefined;
    let clusterId = '';
    let from = this.key;
    for (;;) {
      const request = { key: from, range_end: this.rangeEnd, limit, ...(revision ? { revision } : {}) };
      const page = await connection.call('range', this.options.folder, () => connection.kv.range(request));
      revision ??= page.header.revision;
      clusterId ||= page.header.cluster_id;
      kvs.push(...page.kvs);
      const last = page.kvs.at(-1);
      if (!page.more || !last || this.closed) break;
      from = keyAfter(last.key);
    }
    return { revision: BigInt(revision), clusterId, kvs };
  }

  private apply(events: IEvent[]): void {
    if (this.closed) return;
    for (const event of events) {
      const key = event.kv.key.toString('utf8');
      if (event.type === 'Delete') this.entries.delete(key);
      else this.entries.set(key, this.decode(event.kv));
      // A delete event's mod_revision is the revision of the delete.
      const revision = BigInt(event.kv.mod_revision);
      if (revision > this.version) this.version = revision;
    }
    this.lastFailure = undefined;
    this.emit();
  }

  private decode(kv: IKeyValue): Entry {
    const name = kv.key.toString('utf8').slice(this.options.folder.length);
    // Only direct children are nodes, as in a ZooKeeper folder; anything deeper is someone else's data.
    const node: Result<ClusterNode> = name.includes('/') ? { ok: false, error: 'not a direct child of the cluster prefix' } : decodeNode(kv.value);
    return { modRevision: BigInt(kv.mod_revision), node, nameIsKey: node.ok && nodeKeyCached(node.value) === name };
  }

  private emit(): void {
    this.members.report([...this.entries].map(([key, entry]) => ({ name: this.nameOf(key), path: key, version: entry.modRevision, node: entry.node, nameIsKey: entry.nameIsKey })), this.version);
  }

  private nameOf(key: string): string {
    return key.slice(this.options.folder.length);
  }

  private reportFailure(error: unknown): void {
    const message = errorMessage(error);
    // Once per distinct failure, not on every retry.
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.options.logger.warn({ err: error, cluster: this.options.cluster, key: this.options.folder }, `watching cluster ${this.options.cluster} in etcd: ${message}`);
  }
}
