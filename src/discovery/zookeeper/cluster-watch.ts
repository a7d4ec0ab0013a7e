import type { Logger } from '../../lib/logger.js';
import { Backoff } from '../../lib/backoff.js';
import { errorMessage } from '../../lib/errors.js';
import type { Result } from '../../lib/result.js';
import { decodeNode, encodeNodeCached } from '../codec.js';
import { MemberSetBuilder, type DecodedChild } from '../member-set-builder.js';
import { nodeKeyCached, type ClusterNode } from '../node.js';
import type { ClusterWatch, MemberSet } from '../types.js';
import { isNoNode, isUnimplemented, ZkCode, zkCodeOf } from './zk-errors.js';
import { basename, znodePath } from './paths.js';
import type { ZkSession } from './session.js';
import { rewatchQueueOf } from './rewatch-queue.js';
import type { Stat, WatchEvent, ZkClient } from './zk-client.js';
import { watchModeOf, type WatchMode } from './watch-mode.js';

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
    /** named for the host:port its data holds (see MemberSetBuilder) */
    readonly nameIsKey: boolean,
    /** its data is in doubt (deleted event, or a re-read that failed): read it again before the next report */
    public stale = false,
    /** its data is believed current but its data watch went with the old session: re-armed through the RewatchQueue */
    public unwatched = false,
  ) {}

  get path(): string {
    return `${this.folder}/${this.name}`;
  }
}

/** What adding the persistent watch came to: it stands, the server is too old, or another failure. */
type WatchOutcome = 'standing' | 'unsupported' | { error: unknown };

/** Persistent path: rounds in a row whose report waits for events that arrived meanwhile (then reported without a version). */
const MAX_DEFERRED_ROUNDS = 4;

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
 * the number of writers (docs/benchmarks.md, fleet scenario). Two paths:
 *
 * - **Persistent** (ZooKeeper 3.6+, the default): one persistent recursive
 *   watch on the folder (`addWatch`) reports each created / deleted /
 *   dataChanged child by name, so the folder is listed only after a new
 *   session, when the folder itself comes or goes, or when a reconnect
 *   leaves membership unknown. A new child costs one getData (it also arms
 *   the child's one-shot data watch), a removal one `exists(folder)` (Stat
 *   only: the folder's pzxid keeps the set's version exact; no listing), a
 *   data change one getData.
 * - **One-shot** (servers older than 3.6, see watch-mode.ts): a children
 *   event costs one getChildren (which re-arms the watch) plus one getData
 *   per new child; a removal the getChildren alone.
 *
 * In both, the data of known children is cached and kept fresh by a one-shot
 * data watch on each, and each listing arms the folder's children watch:
 * those are what the client restores after a reconnect (SET_WATCHES) and
 * the server replays, so a change made while the connection was down is not
 * lost. The persistent watch is neither kept nor replayed across
 * connections; it is re-added when one of those fires (see
 * needsReadAfterReconnect). Events are never counted: each only marks work
 * (a name, or a full listing), and a single loop reads what is needed. One
 * function serves every watch, so a notification that matches both the
 * persistent watch and a one-shot watch is handled once.
 */
export class ClusterWatcher implements ClusterWatch {
  private readonly folder: string;
  private children = new Map<string, Child>();
  /** the folder's pzxid at the last children read (0: no folder): covers creates and deletes, the children's mzxids cover data changes */
  private pzxid = 0n;
  /** persistent path: a child was found gone without an exists(folder) after it: `pzxid` is behind */
  private pzxidOutdated = false;
  /** the folder's children (or exists) watch is armed on this session: the last read that set it succeeded and it has not fired since */
  private folderWatched = false;
  /**
   * events on the folder itself so far: a listing takes its watch for
   * standing only if none came while it was in flight. The library hands a
   * reply to its callback and then, in the same socket read, the
   * notifications after it: the watch the listing just armed can fire
   * before the listing's own code runs again.
   */
  private folderEvents = 0;
  private closed = false;
  private dirty = false;
  private syncing = false;
  private starting = false;
  private readonly members: MemberSetBuilder;
  private readonly backoff = new Backoff(200, 10_000);
  private retryTimer: NodeJS.Timeout | undefined;
  private lastFailure: string | undefined;
  private readonly unsubscribe: () => void;
  private readonly mode: WatchMode;
  /** persistent path: the persistent watch does not stand (the server forgets it with the connection): add it before the next read */
  private needWatch = true;
  /** persistent path: the folder must be listed (on ready, and when the folder itself was created or deleted) */
  private needListing = true;
  /** persistent path: children named by events since their last read: read it, or it was deleted */
  private pending = new Map<string, 'read' | 'deleted'>();
  /** persistent path: reports held back in a row because events were pending (see emit) */
  private deferred = 0;
  /**
   * one-shot path: members whose data watch fired since their last read was
   * sent. A reply and the notification after it can come in one socket
   * read, and the library hands both over before the read's own code runs:
   * a read answered before a change lands after the event, its data already
   * old and its watch spent. (The persistent path keeps such events pending.)
   */
  private changedSinceRead = new Set<string>();
  /** the client the persistent watch was added on (its watcher is forgotten there on close) */
  private watchedOn: ZkClient | undefined;

  constructor(private readonly options: ClusterWatcherOptions) {
    this.folder = znodePath(options.basePath, options.cluster);
    this.members = new MemberSetBuilder(options.cluster, options.logger, options.onMembers);
    this.mode = watchModeOf(options.session);
    // While disconnected nothing is read: the core keeps the last members.
    // The same session coming back reads only where a watch is not known to
    // stand (needsReadAfterReconnect). A new session has no watches at all:
    // the children re-read gives the membership at once, and the members'
    // data watches are re-armed (and their data re-read) through the
    // session's RewatchQueue, jittered and bounded, so a fleet's new sessions
    // do not re-read everything at once.
    this.unsubscribe = options.session.onReady(({ fresh }) => {
      // The server kept no persistent watch, on any connection: re-added before the next read (lazily, see below).
      this.needWatch = true;
      if (fresh) {
        this.mode.newSession(this.options.logger);
        this.folderWatched = false;
        this.needListing = true;
        for (const child of this.children.values()) child.unwatched = true;
        this.request();
      } else if (this.needsReadAfterReconnect()) {
        // Nothing would tell us of members added while away: list.
        if (!this.folderWatched) this.needListing = true;
        this.request();
      }
    });
    if (options.session.isConnected()) this.request();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // The server keeps the watch until the connection ends; its events then call nothing.
    this.watchedOn?.removeWatcher(this.folder, this.onEvent);
  }

  /**
   * The same session back on another connection: the engine restored every
   * one-shot watch this cluster holds (SET_WATCHES) and the server fires
   * each one whose znode changed since the last zxid this client saw, so a
   * cluster whose watches all stood needs no read at all. Why: after an
   * ensemble restart every writer of a fleet reconnects at once, and a
   * re-listing of every cluster (21 reads per writer) was the whole herd. A
   * read is needed only where a watch is not known to stand: the folder's was
   * consumed, or a read failed or was cut off with the connection.
   *
   * Persistent path: the persistent watch is gone with the connection and
   * nothing replays it, but the one-shot watches cover the gap: the folder's
   * children watch (armed by every listing) and the members' data watches.
   * So a quiet cluster re-adds its persistent watch only when one of them
   * fires (one addWatch, plus a listing if it was the children watch), and a
   * cluster whose children watch was consumed since its last listing (its
   * changes came through the persistent watch) re-adds and lists at once.
   */
  private needsReadAfterReconnect(): boolean {
    if (!this.folderWatched || this.dirty || this.syncing || this.retryTimer || this.lastFailure !== undefined || this.pending.size > 0) return true;
    for (const child of this.children.values()) if (child.stale) return true;
    return false;
  }

  /** Every watch of this cluster (persistent, children, existence, data) calls this one function. */
  private readonly onEvent = (event: WatchEvent): void => {
    if (this.closed) return;
    if (event.path === this.folder) {
      this.folderEvents += 1;
      if (this.mode.persistent) {
        // The folder's own data is not ours to follow.
        if (event.type === 'dataChanged') return;
        this.folderWatched = false;
        // The one-shot children watch: while the persistent watch stands, the members' own events say what changed.
        if (event.type === 'childrenChanged' && !this.needWatch) return;
        // The folder came or went, or membership changed while the persistent watch was down: list.
        this.needListing = true;
      } else this.folderWatched = false;
      this.request();
      return;
    }
    if (event.path.lastIndexOf('/') !== this.folder.length || !event.path.startsWith(this.folder)) return; // deeper than a member: not ours
    if (!this.mode.persistent) {
      this.onChildEvent(event);
      return;
    }
    this.pending.set(basename(event.path), event.type === 'deleted' ? 'deleted' : 'read');
    this.request();
  };

  /** One-shot path: a member's data watch fired. */
  private onChildEvent(event: WatchEvent): void {
    const name = basename(event.path);
    this.changedSinceRead.add(name);
    const child = this.children.get(name);
    if (!child) {
      // Its read (which armed the watch) is answered but the listing has not kept it yet: see settleRead.
      if (this.syncing) this.request();
      return;
    }
    // A deleted child also fires the folder's children watch, which removes
    // it, or, when it was re-created at once (a reporter replaces its node
    // to change it), must read it again: the name alone looks unchanged.
    if (event.type === 'deleted') child.stale = true;
    if (event.type !== 'dataChanged') return;
    void this.reread(name);
  }

  /** Sends a member's read (arming its data watch): events from here on are newer than what it returns. */
  private readChild(client: ZkClient, name: string): Promise<{ data: Buffer; stat: Stat }> {
    this.changedSinceRead.delete(name);
    return client.getData(this.childPath(name), this.onEvent);
  }

  /** A member's read is applied as `kept`: if its watch fired meanwhile (one-shot path), what it read may be old already. */
  private settleRead(kept: Child): void {
    if (!this.changedSinceRead.delete(kept.name)) return;
    kept.stale = true;
    this.request();
  }

  private request(): void {
    if (this.closed) return;
    this.dirty = true;
    // Started after the current socket read is handled: the notifications of one transaction (a multi's
    // delete and create of a member) arrive together and are then applied in one round.
    if (!this.syncing && !this.starting) {
      this.starting = true;
      queueMicrotask(() => {
        this.starting = false;
        if (!this.syncing) void this.run();
      });
    }
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
    if (!this.mode.persistent) {
      // Events of the persistent path still pending when the session fell back (addWatch refused on a
      // reconnect): their names are read with this listing, or a change they announced is never seen.
      this.readPendingWithListing();
      await this.list(false);
      return;
    }
    const client = this.options.session.current();
    // Sent together with the reads, not before them: one session's requests are applied in order, so the
    // reads still follow the watch, and a herd of reconnecting writers does not wait a round trip more.
    const watched = this.needWatch ? this.addWatch(client) : Promise.resolve<WatchOutcome>('standing');
    if (this.needListing) {
      this.needListing = false;
      this.readPendingWithListing();
      const listed = this.list(true).then(
        () => undefined,
        (error: unknown) => {
          this.needListing = true;
          return { error };
        },
      );
      const [outcome, listing] = await Promise.all([watched, listed]);
      if (outcome === 'unsupported') return;
      if (outcome !== 'standing') throw outcome.error;
      if (listing) throw listing.error;
      return;
    }
    const outcome = await watched;
    if (outcome === 'unsupported') return;
    if (outcome !== 'standing') throw outcome.error;
    if (this.needListing) {
      // A restored children watch fired while the watch was being re-added: the listing covers the events too.
      this.dirty = true;
      return;
    }
    await this.applyEvents(client);
  }

  /**
   * The listing covers who is a member as of now, not a known member's data:
   * a known name with a pending event is read with it (a data change, maybe
   * replayed by the server after a reconnect; a deletion too, since a name
   * the listing still shows was re-created: a multi's delete and create, seen
   * through the restored one-shot watches, which tell no create, maybe with
   * other data). The other names are left to the listing.
   */
  private readPendingWithListing(): void {
    for (const name of this.pending.keys()) {
      const known = this.children.get(name);
      if (known) known.stale = true;
    }
    this.pending.clear();
  }

  /** Adds the persistent watch; never rejects (its outcome is handled after the reads sent with it). */
  private async addWatch(client: ZkClient): Promise<WatchOutcome> {
    const connection = client.connection();
    try {
      this.watchedOn = client;
      await client.addWatch(this.folder, this.onEvent);
      this.mode.confirmed();
      this.needWatch = false;
      return 'standing';
    } catch (error) {
      if (zkCodeOf(error) === ZkCode.CONNECTION_LOSS && connection) this.mode.lostDuringAddWatch(connection.id, connection.server, this.options.logger);
      if (!isUnimplemented(error)) return { error };
      // An older server (it closes the connection too): this session's watches go one-shot from the next round.
      this.mode.markUnsupported(connection?.server ?? '?', this.options.logger);
      client.removeWatcher(this.folder, this.onEvent);
      this.needListing = true;
      this.dirty = true;
      return 'unsupported';
    }
  }

  /**
   * Persistent path between listings: the children events name what
   * changed. Deleted ones are dropped (one exists(folder) for the new
   * pzxid), created or changed ones read (one getData each, which arms their
   * data watch).
   */
  private async applyEvents(client: ZkClient): Promise<void> {
    const work = this.pending;
    this.pending = new Map();
    const toRead: string[] = [];
    let removed = false;
    for (const [name, what] of work) {
      if (what === 'read') toRead.push(name);
      else {
        // Even a name never read (created and deleted meanwhile) moved the folder's pzxid.
        this.children.delete(name);
        removed = true;
      }
    }
    for (const child of this.children.values()) if (child.stale && !work.has(child.name)) toRead.push(child.name);
    const reads = Promise.allSettled(toRead.map((name) => client.getData(this.childPath(name), this.onEvent)));
    // Sent after the reads (one session's requests are answered in order): its pzxid also covers a child a read found gone.
    const folder = removed || this.pzxidOutdated ? client.exists(this.folder) : undefined;
    this.pzxidOutdated = false;
    let settled: PromiseSettledResult<{ data: Buffer; stat: Stat }>[];
    let stat: Stat | null | undefined;
    try {
      [settled, stat] = await Promise.all([reads, folder]);
    } catch (error) {
      this.pzxidOutdated = true;
      for (const name of toRead) if (!this.pending.has(name)) this.pending.set(name, 'read');
      throw error;
    }
    if (this.closed) return;
    if (stat === null) {
      this.needListing = true; // the folder went: its deleted event follows
      this.dirty = true;
      return;
    }
    if (stat) this.pzxid = stat.pzxid.readBigInt64BE(0);

    let failure: unknown;
    const added = new Map<string, Child>();
    toRead.forEach((name, index) => {
      const read = settled[index]!;
      const current = this.children.get(name);
      if (read.status === 'fulfilled') {
        const next = newer(current, this.decode(name, read.value.data, read.value.stat));
        next.unwatched = false; // the read armed its data watch, whichever copy is kept
        if (current) this.children.set(name, next);
        else added.set(name, next);
      } else if (isNoNode(read.reason)) {
        this.children.delete(name);
        if (!stat) this.pzxidOutdated = true;
      } else {
        failure ??= read.reason;
        if (current) current.stale = true;
        else if (!this.pending.has(name)) this.pending.set(name, 'read');
      }
    });
    if (this.pzxidOutdated) this.dirty = true;
    if (added.size > 0) this.children = mergeChildren(this.children, added);
    this.emit();
    if (failure) throw failure;
  }

  /**
   * Lists the folder (arming its children watch) and reads its new or stale
   * children. `persistent`: a missing folder gets no exists watch, which on
   * ZooKeeper 3.6-3.8 would replace the persistent watch of the same path
   * (ZOOKEEPER-4466; a children watch is kept apart and does not).
   */
  private async list(persistent: boolean): Promise<void> {
    const client = this.options.session.current();
    let names: string[];
    let pzxid: bigint;
    const eventsBefore = this.folderEvents;
    try {
      const listing = await client.getChildren(this.folder, this.onEvent);
      this.folderWatched = this.folderEvents === eventsBefore;
      names = listing.children;
      pzxid = listing.stat.pzxid.readBigInt64BE(0);
    } catch (error) {
      if (!isNoNode(error)) throw error;
      // Not there (yet, or any more): an exists watch (or the persistent watch) tells us when it appears.
      const stat = persistent ? null : await client.exists(this.folder, this.onEvent);
      this.folderWatched = !persistent && this.folderEvents === eventsBefore;
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
    const reads = await Promise.allSettled(toRead.map((name) => this.readChild(client, name)));
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
    for (const name of toRead) {
      const kept = next.get(name);
      if (kept) this.settleRead(kept);
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
      const { data, stat } = await this.readChild(this.options.session.current(), name);
      const current = this.children.get(name);
      if (this.closed || !current) return;
      const next = newer(current, this.decode(name, data, stat));
      next.unwatched = false; // the read armed its data watch, whichever copy is kept
      this.settleRead(next);
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
    return new Child(this.folder, name, stat.mzxid.readBigInt64BE(0), node, node.ok ? encodeNodeCached(node.value) : '', node.ok && nodeKeyCached(node.value) === name);
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
    if (this.pending.size > 0 && this.mode.persistent) {
      // Persistent path: events arrived during this round's reads. They may belong to a change the reads
      // already partly reflect: the delete half of a multi that replaced a member (its create is pending),
      // or a pzxid that includes a create not read yet. Reporting now would show a member missing for a
      // moment, or claim a version the set does not reflect; the next round (already due) applies them.
      // Under churn faster than a round trip a set is reported anyway every few rounds, without a version.
      this.deferred += 1;
      if (this.deferred <= MAX_DEFERRED_ROUNDS) return;
      version = undefined;
    }
    this.deferred = 0;
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

/** `children` (in name order) with `added` merged in at their places. */
function mergeChildren(children: ReadonlyMap<string, Child>, added: ReadonlyMap<string, Child>): Map<string, Child> {
  const merged = new Map<string, Child>();
  for (const name of sortedNames([...children.keys(), ...added.keys()], children)) merged.set(name, children.get(name) ?? added.get(name)!);
  return merged;
}

function newer(current: Child | undefined, read: Child): Child {
  return current && !current.stale && current.version > read.version ? current : read;
}
