import type { Logger } from '../../lib/logger.js';
import { Backoff } from '../../lib/backoff.js';
import { errorMessage } from '../../lib/errors.js';
import type { Result } from '../../lib/result.js';
import { decodeNode, encodeNodeCached } from '../codec.js';
import { MemberSetBuilder, type DecodedChild } from '../member-set-builder.js';
import type { ClusterNode } from '../node.js';
import type { ClusterWatch, MemberSet } from '../types.js';
import { isNoNode } from './zk-errors.js';
import { basename, znodePath } from './paths.js';
import type { ZkSession } from './session.js';
import { rewatchQueueOf } from './rewatch-queue.js';
import type { Stat, WatchEvent } from './zk-client.js';

/**
 * One member znode as last read. It is also what the member set reporter is
 * handed (a DecodedChild), so a member costs one object rather than a read
 * record plus a report record, and its path is built only when a log or a
 * rejection names it: with 10,000 members those were ~1.2 MB of the
 * writer's heap.
 */
class Child implements DecodedChild {
  constructor(
    private readonly folder: string,
    readonly name: string,
    /** mzxid: orders two reads of the same znode that raced each other (a re-created znode has a larger mzxid too) */
    readonly version: bigint,
    readonly node: Result<ClusterNode>,
    /**
     * the node re-encoded, for comparing member sets without re-encoding
     * every member on every change; the shared cached encoding, so the
     * cluster state and the member cache find it instead of encoding every
     * node again
     */
    readonly encoded: string,
    /** its data is in doubt (deleted event, or a re-read that failed): read it again before the next report */
    public stale = false,
    /** its data is believed current but its data watch went with the old session: re-armed through the RewatchQueue */
    public unwatched = false,
  ) {}

  get path(): string {
    return `${this.folder}/${this.name}`;
  }
}

export interface ClusterWatcherOptions {
  session: ZkSession;
  basePath: string;
  cluster: string;
  onMembers(set: MemberSet): void;
  logger: Logger;
}

/**
 * Watches the members of one cluster, `<path>/<cluster>/<host>:<port>`.
 *
 * Cost per change is what a fleet can afford: every writer of a fleet
 * watches the same ensemble, so each read a change triggers is multiplied by
 * the number of hosts (target: at most 3 ZooKeeper requests per change,
 * server-wide, measured by the convergence bench, docs/benchmarks.md). A
 * children event costs one getChildren (which re-arms the watch) plus one
 * getData per child that is new; the data of known children is cached and
 * kept fresh by a data watch on each, so a data change costs one getData and
 * a removal costs the getChildren alone. Watch events are one-shot and
 * coalesced by ZooKeeper, so they are never counted: each one only marks the
 * cluster dirty, and a single sync loop reads what is needed.
 */
export class ClusterWatcher implements ClusterWatch {
  private readonly folder: string;
  private children = new Map<string, Child>();
  /** the folder's pzxid at the last children read (0: no folder): covers creates and deletes, the children's mzxids cover data changes */
  private pzxid = 0n;
  /** the folder's children (or exists) watch is armed on this session: the last read that set it succeeded and it has not fired since */
  private folderWatched = false;
  private closed = false;
  private dirty = false;
  private syncing = false;
  private readonly members: MemberSetBuilder;
  private readonly backoff = new Backoff(200, 10_000);
  private retryTimer: NodeJS.Timeout | undefined;
  private lastFailure: string | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ClusterWatcherOptions) {
    this.folder = znodePath(options.basePath, options.cluster);
    this.members = new MemberSetBuilder(options.cluster, options.logger, options.onMembers);
    // While disconnected nothing is read: the core keeps the last members.
    // The same session coming back needs one children re-read (the library
    // restored the watches, and the server replays what they missed). A new
    // session has no watches at all: the children re-read gives the
    // membership at once, and the members' data watches are re-armed (and
    // their data re-read) through the session's RewatchQueue, jittered and
    // bounded, so a fleet's new sessions do not re-read everything at once.
    this.unsubscribe = options.session.onReady(({ fresh }) => {
      if (fresh) {
        this.folderWatched = false;
        for (const child of this.children.values()) child.unwatched = true;
        this.request();
      } else if (this.needsReadAfterReconnect()) this.request();
    });
    if (options.session.isConnected()) this.request();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private readonly onFolderEvent = (): void => {
    this.folderWatched = false;
    this.request();
  };

  /**
   * The same session back on another connection: the engine restored every
   * watch this cluster holds (SET_WATCHES) and the server fires each one whose
   * znode changed since the last zxid this client saw, so a cluster whose
   * watches all stood needs no read at all. Why: after an ensemble restart
   * every writer of a fleet reconnects at once, and a re-listing of every
   * cluster (21 reads per writer) was the whole herd. A read is needed only
   * where a watch is not known to stand: the folder's was consumed, or a
   * read failed or was cut off with the connection.
   */
  private needsReadAfterReconnect(): boolean {
    if (!this.folderWatched || this.dirty || this.syncing || this.retryTimer || this.lastFailure !== undefined) return true;
    for (const child of this.children.values()) if (child.stale) return true;
    return false;
  }

  private readonly onChildEvent = (event: WatchEvent): void => {
    if (this.closed) return;
    const child = this.children.get(basename(event.path));
    // A deleted child also fires the folder's children watch, which removes
    // it, or, when it was re-created at once (a reporter replaces its node
    // to change it), must read it again: the name alone looks unchanged.
    if (child && event.type === 'deleted') child.stale = true;
    if (!child || event.type !== 'dataChanged') return;
    void this.reread(basename(event.path));
  };

  private request(): void {
    if (this.closed) return;
    this.dirty = true;
    if (!this.syncing) void this.run();
  }

  private async run(): Promise<void> {
    this.syncing = true;
    try {
      while (this.dirty && !this.closed) {
        this.dirty = false;
        if (!this.options.session.isConnected()) return;
        try {
          await this.sync();
          this.backoff.reset();
          this.lastFailure = undefined;
        } catch (error) {
          if (this.closed) return;
          this.reportFailure(error);
          // Lost connection: the ready event restarts us. Connected but failing (deadline, ACL): retry later.
          if (this.options.session.isConnected() && !this.dirty) this.scheduleRetry();
        }
      }
    } finally {
      this.syncing = false;
    }
  }

  private async sync(): Promise<void> {
    const client = this.options.session.current();
    let names: string[];
    let pzxid: bigint;
    try {
      const listing = await client.getChildren(this.folder, this.onFolderEvent);
      this.folderWatched = true;
      names = listing.children;
      pzxid = listing.stat.pzxid.readBigInt64BE(0);
    } catch (error) {
      if (!isNoNode(error)) throw error;
      // Not there (yet, or any more): an exists watch tells us when it appears.
      const stat = await client.exists(this.folder, this.onFolderEvent);
      this.folderWatched = true;
      if (this.closed) return;
      if (stat) {
        this.dirty = true; // created between the two requests
        return;
      }
      this.children = new Map();
      this.pzxid = 0n;
      this.emit();
      return;
    }
    if (this.closed) return;
    this.pzxid = pzxid;

    const toRead = names.filter((name) => {
      const known = this.children.get(name);
      return !known || known.stale;
    });
    const reads = await Promise.allSettled(toRead.map((name) => client.getData(this.childPath(name), this.onChildEvent)));
    if (this.closed) return;

    let failure: unknown;
    const next = new Map<string, Child>();
    const readIndex = new Map(toRead.map((name, index) => [name, index]));
    for (const name of sortedNames(names, this.children)) {
      const index = readIndex.get(name);
      const current = this.children.get(name);
      if (index === undefined) {
        if (current) next.set(name, current);
        continue;
      }
      const read = reads[index]!;
      if (read.status === 'fulfilled') {
        next.set(name, newer(current, this.decode(name, read.value.data, read.value.stat)));
      } else if (!isNoNode(read.reason)) {
        failure ??= read.reason;
        if (current) {
          current.stale = true;
          next.set(name, current);
        }
      }
      // NO_NODE: deleted since the children read; the children watch already fired.
    }
    this.children = next;
    this.emit();
    this.rewatchLater();
    if (failure) throw failure;
  }

  /** Members kept from an old session get their data watch back, paced by the session's queue. */
  private rewatchLater(): void {
    const queue = rewatchQueueOf(this.options.session);
    for (const child of this.children.values()) {
      if (!child.unwatched) continue;
      queue.add(child.path, async () => {
        if (this.closed || this.children.get(child.name) !== child || !child.unwatched) return;
        await this.reread(child.name);
      });
    }
  }

  /** A known child's data changed: one getData, which also re-arms its watch. */
  private async reread(name: string): Promise<void> {
    try {
      const { data, stat } = await this.options.session.current().getData(this.childPath(name), this.onChildEvent);
      const current = this.children.get(name);
      if (this.closed || !current) return;
      const next = newer(current, this.decode(name, data, stat));
      next.unwatched = false; // the read armed its data watch, whichever copy is kept
      this.children.set(name, next);
      this.emit();
    } catch (error) {
      if (this.closed || isNoNode(error)) return;
      // The watch was consumed but not re-armed: the next sync must read it again.
      const current = this.children.get(name);
      if (current) current.stale = true;
      this.reportFailure(error);
      if (this.options.session.isConnected()) this.scheduleRetry();
    }
  }

  /**
   * Child names come from ZooKeeper, so they always form a valid path: they
   * are joined as they are, not checked against our own naming grammar
   * (znodePath throws on a name with a space, `#` or non-ASCII, and one such
   * znode written by anyone stopped every update of the whole cluster).
   */
  private childPath(name: string): string {
    return `${this.folder}/${name}`;
  }

  private decode(name: string, data: Buffer, stat: Stat): Child {
    const node = decodeNode(data);
    return new Child(this.folder, name, stat.mzxid.readBigInt64BE(0), node, node.ok ? encodeNodeCached(node.value) : '');
  }

  /**
   * The version is the newest zxid the set reflects: the same ZooKeeper state
   * gives every writer the same number, whenever it read it.
   */
  private emit(): void {
    const children = [...this.children.values()];
    let version: bigint | undefined = this.pzxid;
    for (const child of children) if (child.version > version) version = child.version;
    // Kept from an old session and not read since: the member may have been re-created with other data
    // meanwhile (which moved pzxid), so the set reflects no version until those reads land. Writers then
    // count as current only by their members' digest.
    if (children.some((child) => child.unwatched)) version = undefined;
    this.members.report(children, version);
  }

  private reportFailure(error: unknown): void {
    const message = errorMessage(error);
    // Once per distinct failure, not on every retry.
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.options.logger.warn({ err: error, cluster: this.options.cluster, znode: this.folder }, `reading cluster ${this.options.cluster} failed: ${message}`);
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.request();
    }, this.backoff.next());
    this.retryTimer.unref();
  }
}

/**
 * The children in name order, which the member set needs. ZooKeeper lists
 * them in no particular order; the known ones are kept in order already, so
 * only the new names are sorted and merged in (a change in a 1,000-child
 * cluster adds one name, not a sort of 1,000).
 */
function sortedNames(names: readonly string[], known: ReadonlyMap<string, Child>): string[] {
  const listed = new Set(names);
  const kept: string[] = [];
  for (const name of known.keys()) if (listed.has(name)) kept.push(name);
  const added = names.filter((name) => !known.has(name)).sort();
  if (added.length === 0) return kept;
  const merged: string[] = [];
  let k = 0;
  for (const name of added) {
    while (k < kept.length && kept[k]! < name) merged.push(kept[k++]!);
    merged.push(name);
  }
  while (k < kept.length) merged.push(kept[k++]!);
  return merged;
}

function newer(current: Child | undefined, read: Child): Child {
  return current && !current.stale && current.version > read.version ? current : read;
}
