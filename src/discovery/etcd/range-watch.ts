import type { IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import { Backoff } from '../../lib/backoff.js';
import { isAuthTokenExpired, type EtcdConnection } from './client.js';

export interface RangeWatchOptions {
  connection: EtcdConnection;
  key: Buffer;
  /** end of the range (exclusive); none for a single key */
  rangeEnd?: Buffer;
  /** the first revision to deliver: one past what the owner has already seen */
  fromRevision: bigint;
  /** events of one response, in revision order */
  onEvents(events: IEvent[]): void;
  /**
   * The history from `fromRevision` on has been compacted away: events were
   * lost for good. The watch has stopped; the owner re-reads and starts anew.
   */
  onCompacted(compactRevision: bigint): void;
  /** the stream broke (it is reopened by itself); for logging */
  onBroken?(error: unknown): void;
  backoff?: Backoff;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/**
 * One etcd watch on one key range that never loses an event: every stream it
 * opens asks for history from one past the last revision delivered, so a
 * reconnect (server restart, network cut, another endpoint) replays what
 * happened meanwhile. Only compaction can break that promise, and then it
 * says so instead of silently skipping.
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

  constructor(private readonly options: RangeWatchOptions) {
    this.next = options.fromRevision;
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
        stream.on('end', () => this.broken(stream, new Error('watch stream ended')));
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
    if (response.canceled) {
      this.broken(stream, new Error(`watch canceled by the server: ${response.cancel_reason || 'no reason given'}`));
      return;
    }
    if (response.created) {
      this.backoff.reset();
      return;
    }
    if (response.events.length === 0) return;
    for (const event of response.events) {
      const revision = BigInt(event.kv.mod_revision);
      if (revision >= this.next) this.next = revision + 1n;
    }
    this.options.onEvents(response.events);
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
