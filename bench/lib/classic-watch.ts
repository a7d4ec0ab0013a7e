import { decodeNode } from '../../src/discovery/codec.js';
import { MemberSetBuilder } from '../../src/discovery/member-set-builder.js';
import type { MemberSet } from '../../src/discovery/types.js';
import type { ZkSession } from '../../src/discovery/zookeeper/session.js';
import { isNoNode } from '../../src/discovery/zookeeper/zk-errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { Backoff } from '../../src/lib/backoff.js';

/**
 * The classic watch strategy, for comparison only (what SmartStack-era
 * tools and the original Lighthouse do): a one-shot children watch,
 * re-armed on every event, and on every event (and every new or resumed
 * session) the whole cluster read again: getChildren + getData of every
 * child. No data watches, no cache. Same session, same decoding, same
 * member-set reporting as the shipped ClusterWatcher.
 */
export class ClassicClusterWatch {
  private readonly folder: string;
  private readonly members: MemberSetBuilder;
  private closed = false;
  private dirty = false;
  private syncing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff(200, 10_000);
  private readonly unsubscribe: () => void;

  constructor(private readonly options: { session: ZkSession; basePath: string; cluster: string; onMembers(set: MemberSet): void }) {
    this.folder = `${options.basePath}/${options.cluster}`;
    this.members = new MemberSetBuilder(options.cluster, silentLogger(), options.onMembers);
    this.unsubscribe = options.session.onReady(() => this.request());
    if (options.session.isConnected()) this.request();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private readonly onEvent = (): void => this.request();

  private request(): void {
    if (this.closed) return;
    this.dirty = true;
    if (!this.syncing) void this.run();
  }

  private async run(): Promise<void> {
    this.syncing = true;
    try {
      while (this.dirty && !this.closed && this.options.session.isConnected()) {
        this.dirty = false;
        try {
          await this.sync();
          this.backoff.reset();
        } catch {
          // Connection lost: the ready event restarts us. Connected but failed (a deadline on a busy
          // ensemble): retry with jittered backoff, as kazoo-style clients do; the watch may not be armed.
          if (this.options.session.isConnected() && !this.retryTimer) {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              this.request();
            }, this.backoff.next());
          }
        }
      }
    } finally {
      this.syncing = false;
    }
  }

  private async sync(): Promise<void> {
    const client = this.options.session.current();
    const { children } = await client.getChildren(this.folder, this.onEvent);
    const reads = await Promise.allSettled(children.map((name) => client.getData(`${this.folder}/${name}`)));
    if (this.closed) return;
    const decoded = [];
    for (const [index, read] of reads.entries()) {
      if (read.status === 'rejected') {
        if (isNoNode(read.reason)) continue;
        throw read.reason;
      }
      const name = children[index]!;
      decoded.push({ name, path: `${this.folder}/${name}`, version: read.value.stat.mzxid.readBigInt64BE(0), node: decodeNode(read.value.data) });
    }
    this.members.report(decoded);
  }
}
