import type { IDuplexStream, IEvent, IResponseHeader, IWatchRequest, IWatchResponse } from 'etcd3';
import { Backoff } from '../../lib/backoff.js';
import { LighthouseError } from '../../lib/errors.js';
import { isAuthTokenExpired, type EtcdConnection } from './client.js';

export interface RangeWatchOptions {
  connection: EtcdConnection;
  key: Buffer;
  /** end of the range (exclusive); none for a single key */
  rangeEnd?: Buffer;
  /** the first revision to deliver: one past what the owner has already seen */
  fromRevision: bigint;
  /** the etcd cluster `fromRevision` belongs to (from the owner's read); else the first answer's */
  clusterId?: string;
  /** the owner's read of the range at `fromRevision - 1` (every key, with its mod_revision): checked against etcd after each reconnect */
  readKeys?: readonly { key: Buffer; mod_revision: string }[];
  /** events of one response, in revision order */
  onEvents(events: IEvent[]): void;
  /**
   * The history from `fromRevision` on has been compacted away: events were
   * lost for good. The watch has stopped; the owner re-reads and starts anew.
   */
  onCompacted(compactRevision: bigint): void;
  /**
   * etcd's history is not the one the watch continued from: etcd answers
   * from another cluster, or with a revision below one already delivered
   * (restarted without its data: its revisions start again at 1, and a watch
   * from the old revision would wait for a future that never comes). The
   * watch has stopped; the owner re-reads and starts anew. Without this
   * callback, `onCompacted` is called with the revision etcd is at.
   */
  onHistoryLost?(reason: HistoryLost): void;
  /** the stream broke (it is reopened by itself); for logging */
  onBroken?(error: unknown): void;
  backoff?: Backoff;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

export interface HistoryLost {
  /** one line for the log */
  reason: string;
  /** the revision etcd is at now */
  revision: bigint;
  /** the revision the watch continued from (the last one delivered) */
  lastSeen: bigint;
}

/** SortOrder.Descend and SortTarget.Mod of etcd's rpc.proto (the request goes to gRPC as is: names are not mapped). */
const SORT_DESCEND = 2;
const SORT_BY_MOD = 3;

/** The range as it was at `revision`. */
interface Fingerprint {
  revision: bigint;
  count: string;
  /** `key@mod_revision` of the most recently changed key, '' when the range was empty */
  newest: string;
}

function fingerprintOf(revision: bigint, kvs: readonly { key: Buffer; mod_revision: string }[]): Fingerprint {
  let newest: { key: Buffer; mod_revision: string } | undefined;
  for (const kv of kvs) if (!newest || BigInt(kv.mod_revision) > BigInt(newest.mod_revision)) newest = kv;
  return { revision, count: String(kvs.length), newest: newest ? `${newest.key.toString('utf8')}@${newest.mod_revision}` : '' };
}

const sameFingerprint = (a: Fingerprint, b: Fingerprint): boolean => a.count === b.count && a.newest === b.newest;
const describe = (print: Fingerprint): string => `${print.count} key(s)${print.newest ? `, newest ${print.newest}` : ''}`;

/** A watch cancel reason that means the history needed is gone (etcd words it like this). */
const HISTORY_GONE = /required revision (has been compacted|is a future revision)/;

/**
 * One etcd watch on one key range that never loses an event: every stream it
 * opens asks for history from one past the last revision delivered, so a
 * reconnect (server restart, network cut, another endpoint) replays what
 * happened meanwhile. Only compaction, or an etcd that lost its data (its
 * revisions start again below ours), can break that promise, and then it
 * says so instead of silently skipping or waiting for a revision that will
 * mean something else.
 *
 * It keeps its own revision instead of using the etcd3 library's Watcher,
 * which advances to the header revision of the "created" response (before
 * the replayed events have arrived) and of batched catch-up responses (whose
 * header revision can be past their last event): a second disconnect at the
 * wrong moment would skip events there. Here, only the `mod_revision` of an
 * event that was delivered moves the revision forward.
 */
export class RangeWatch {
  private next: bigint;
  private stream: WatchStream | undefined;
  private attempt = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  /** the etcd cluster the history belongs to */
  private clusterId: string | undefined;
  private verifying = false;
  /** what the range held at one revision already delivered, to recognise the history after a reconnect */
  private fingerprint: Fingerprint | undefined;
  private fingerprinting = false;

  constructor(private readonly options: RangeWatchOptions) {
    this.next = options.fromRevision;
    this.clusterId = options.clusterId || undefined;
    if (options.readKeys) this.fingerprint = fingerprintOf(options.fromRevision - 1n, options.readKeys);
    this.backoff = options.backoff ?? new Backoff(100, 5_000);
    this.open();
  }

  /** The next revision this watch asks for (for tests and logs). */
  get revision(): bigint {
    return this.next;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) quietEnd(stream);
  }

  private open(): void {
    if (this.closed) return;
    const attempt = (this.attempt += 1);
    this.options.connection.watch.watch().then(
      (stream) => {
        if (this.closed || attempt !== this.attempt) {
          quietEnd(stream);
          return;
        }
        this.stream = stream;
        stream.on('data', (response) => this.onData(stream, response));
        stream.on('error', (error) => this.broken(stream, error));
        // Coded, no subject: the owner's log line names the cluster and its key (onBroken).
        stream.on('end', () => this.broken(stream, new LighthouseError('LH_ETCD_OPERATION', 'watch stream ended')));
        stream.write({
          create_request: {
            key: this.options.key,
            ...(this.options.rangeEnd ? { range_end: this.options.rangeEnd } : {}),
            start_revision: this.next.toString(),
          },
        });
      },
      (error: unknown) => this.broken(undefined, error),
    );
  }

  private onData(stream: WatchStream, response: IWatchResponse): void {
    if (stream !== this.stream || this.closed) return;
    const compacted = BigInt(response.compact_revision || '0');
    if (compacted > 0n) {
      this.close();
      this.options.onCompacted(compacted);
      return;
    }
    if (response.canceled && HISTORY_GONE.test(response.cancel_reason)) {
      this.lost({ reason: `etcd canceled the watch: ${response.cancel_reason}`, revision: BigInt(response.header.revision || '0'), lastSeen: this.next - 1n });
      return;
    }
    if (response.canceled) {
      this.broken(stream, new LighthouseError('LH_ETCD_OPERATION', `watch canceled by the server: ${response.cancel_reason || 'no reason given'}`));
      return;
    }
    if (this.historyChanged(response.header)) return;
    if (response.created) {
      this.backoff.reset();
      // Only a watch that continues from a read of its range (a cluster's members) has one to check.
      if (this.fingerprint) this.checkFingerprint(true);
      return;
    }
    if (response.events.length === 0) return;
    for (const event of response.events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision >= this.next) this.next = revision + 1n;
    }
    this.options.onEvents(response.events);
  }

  /**
   * Whether `header` shows another history than the one delivered so far.
   * A revision below the last one delivered can also come from a member that
   * lags behind (with several endpoints), so it is confirmed with a
   * linearizable read first; another cluster id needs no confirmation.
   */
  private historyChanged(header: IResponseHeader | undefined): boolean {
    if (!header) return false;
    const lastSeen = this.next - 1n;
    if (header.cluster_id) {
      this.clusterId ??= header.cluster_id;
      if (header.cluster_id !== this.clusterId) {
        this.lost({ reason: `etcd answers as another cluster (id ${header.cluster_id}, was ${this.clusterId})`, revision: BigInt(header.revision || '0'), lastSeen });
        return true;
      }
    }
    const revision = BigInt(header.revision || '0');
    if (revision === 0n || revision >= lastSeen || this.verifying) return false;
    this.verifying = true;
    const { connection, key } = this.options;
    void connection
      .call('range', key.toString('utf8'), () => connection.kv.range({ key, limit: 1, count_only: true }))
      .then(
        (answer) => {
          this.verifying = false;
          const now = BigInt(answer.header.revision);
          if (now < this.next - 1n) this.lost({ reason: `etcd is at revision ${now}, below revision ${this.next - 1n} the watch already saw (restarted without its data?)`, revision: now, lastSeen: this.next - 1n });
        },
        // Unreachable again. A watch waiting for a future revision gets no
        // more answers to look at, so the stream is reopened: its "created"
        // answer is looked at again.
        (error: unknown) => {
          this.verifying = false;
          if (this.stream) this.broken(this.stream, error);
        },
      );
    return false;
  }

  /**
   * etcd started again without its data keeps its cluster id (it comes from
   * the peer URLs and the cluster token), and once written past the
   * revision this watch had seen, nothing in a header tells the new history
   * from the old one: the watch resumed and never delivered what the new
   * history holds below that revision. So after each reconnect the range is
   * read as it was at a revision already delivered (count, newest key and
   * its revision) and compared with what it was then; then a new such
   * fingerprint is taken at the last revision delivered.
   */
  private checkFingerprint(verify: boolean): void {
    if (this.fingerprinting) return;
    const previous = verify ? this.fingerprint : undefined;
    const at = previous?.revision ?? this.next - 1n;
    if (at <= 0n) return;
    this.fingerprinting = true;
    void this.readFingerprint(at).then(
      (seen) => {
        this.fingerprinting = false;
        if (this.closed) return;
        if (previous && seen !== 'unknown' && !sameFingerprint(previous, seen)) {
          this.lost({ reason: `etcd's history at revision ${at} is not the one the watch saw (${describe(seen)}, was ${describe(previous)}): restarted without its data?`, revision: this.next - 1n, lastSeen: this.next - 1n });
          return;
        }
        if (previous) this.checkFingerprint(false);
        else if (seen !== 'unknown') this.fingerprint = seen;
      },
      (error: unknown) => {
        this.fingerprinting = false;
        // Unreachable again: the next stream's "created" answer tries again.
        if (this.stream) this.broken(this.stream, error);
      },
    );
  }

  private async readFingerprint(revision: bigint): Promise<Fingerprint | 'unknown'> {
    const { connection, key, rangeEnd } = this.options;
    try {
      const answer = await connection.call('range', key.toString('utf8'), () =>
        connection.kv.range({ key, ...(rangeEnd ? { range_end: rangeEnd } : {}), revision: revision.toString(), limit: 1, sort_order: SORT_DESCEND, sort_target: SORT_BY_MOD, keys_only: true }),
      );
      const newest = answer.kvs[0];
      return { ...fingerprintOf(revision, newest ? [newest] : []), count: String(answer.count) };
    } catch (error) {
      // Compacted since: nothing to compare with. A future revision: the history went back (the header check sees it).
      if (HISTORY_GONE.test(String((error as Error).message))) return 'unknown';
      throw error;
    }
  }

  private lost(history: HistoryLost): void {
    if (this.closed) return;
    this.close();
    if (this.options.onHistoryLost) this.options.onHistoryLost(history);
    else this.options.onCompacted(history.revision);
  }

  private broken(stream: WatchStream | undefined, error: unknown): void {
    if (this.closed || (stream !== undefined && stream !== this.stream)) return;
    if (stream) quietEnd(stream);
    this.stream = undefined;
    this.options.onBroken?.(error);
    if (this.timer) return;
    const renew = isAuthTokenExpired(error);
    this.timer = setTimeout(() => {
      if (!renew) {
        this.timer = undefined;
        this.open();
        return;
      }
      void this.options.connection.renewAuth(this.options.key.toString('utf8')).then(() => {
        this.timer = undefined;
        this.open();
      });
    }, this.backoff.next());
    this.timer.unref();
  }
}

/**
 * Ends a stream we no longer want. Ending the write side first keeps the
 * library from counting the cancellation as a failure of the endpoint (it
 * only does that while the stream is writable), which would reset every
 * other stream on it.
 */
function quietEnd(stream: WatchStream): void {
  stream.on('error', () => undefined);
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already gone
  }
}
