import type { Counter } from 'prom-client';
import type { DrainingServer } from '../balancer/types.js';
import { ACK_FORMAT, MAX_RECORD_BYTES, ackRecordName, encodeAck, memberDigest, oversizeAck, writerId, type ClusterAck, type WriterAck } from '../discovery/ack-record.js';
import { nodeKey, type ClusterNode } from '../discovery/node.js';
import type { RecordStore } from '../discovery/types.js';
import { Backoff } from '../lib/backoff.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { buildInfo } from '../lib/version.js';
import type { ClusterState } from './cluster-state.js';

export interface AckPublisherOptions {
  host: string;
  configDir: string;
  /** the writer's state folder: with the host name, what makes the writer unique */
  stateDir: string;
  /** this machine's id ('' when it has none): keeps two machines sharing a host name and state folder on two records */
  machine?: string;
  logger: Logger;
  /** the record store of the current instance of a discovery item */
  store(discovery: string): RecordStore | undefined;
  /** servers out of routing that still have sessions, over every balancer */
  draining(): Promise<DrainingServer[]>;
  writes: Counter<'discovery' | 'result'>;
  /** at most one record write per discovery (and one `show stat`) per this long (default 1 s) */
  minIntervalMs?: number;
  /** how often sessions on draining servers are read again while there are any (default 1 s) */
  drainPollMs?: number;
  now?: () => number;
}

/** A record deleted by someone else is written again at once, but not more often than this. */
const LOST_REWRITE_MS = 30_000;

/** What one sync hands the balancers for a cluster: captured before the sync, acknowledged after it succeeded. */
export interface AppliedCluster {
  cluster: string;
  discovery: string;
  version: string | undefined;
  members: readonly ClusterNode[];
  held: readonly ClusterNode[];
}

interface Applied extends Omit<ClusterAck, 'draining' | 'digest'> {
  discovery: string;
  /** computed when the record is written (at most once a second), not on the sync path: 10,000 members take ms */
  digest: string | undefined;
  /** the members array the digest is of: the store hands out a new array only on a change */
  from: readonly ClusterNode[];
}

/**
 * Publishes what this writer's balancers run (docs/fleet-safety.md, "Writer
 * acknowledgements"): one record per discovery backend, written only when
 * it changed and at most once per `minIntervalMs`, so a burst of changes
 * costs the ensemble one write per writer. While servers taken out of
 * routing still have sessions, their count is read from HAProxy once a
 * second and the record follows it; with none, nothing runs.
 */
export class AckPublisher {
  private readonly clusters = new Map<string, Applied>();
  private readonly listedVersions = new Map<string, string>();
  private draining = new Map<string, Record<string, number>>();
  /** per discovery: the record last written (without writtenAt), to write only what changed */
  private readonly written = new Map<string, string>();
  /** per discovery whose last write failed: warned once until it works again */
  private readonly failing = new Set<string>();
  /** per discovery whose record is over MAX_RECORD_BYTES: logged once until it fits again */
  private readonly oversize = new Set<string>();
  /** stores told to report a deleted record (one per discovery instance) */
  private readonly listening = new WeakSet<RecordStore>();
  private readonly lostAt = new Map<string, number>();
  /**
   * Retries of failed writes back off to a minute: writers without the right
   * to write the record (a ZooKeeper ACL, an etcd role) must not cost the
   * ensemble a request per writer per second for ever.
   */
  private readonly retryBackoff = new Backoff(1_000, 60_000);
  private lastRunAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private dirty = false;
  private closed = false;
  private readonly now: () => number;
  private readonly minIntervalMs: number;

  constructor(private readonly options: AckPublisherOptions) {
    this.now = options.now ?? Date.now;
    this.minIntervalMs = options.minIntervalMs ?? 1_000;
  }

  /** The version of the set discovery listed last (captured by the next sync). */
  listed(cluster: string, version: string | undefined): void {
    if (version === undefined) this.listedVersions.delete(cluster);
    else this.listedVersions.set(cluster, version);
  }

  capture(cluster: string, discovery: string, state: ClusterState): AppliedCluster {
    return { cluster, discovery, version: state.revision === 0 ? undefined : this.listedVersions.get(cluster), members: state.members, held: state.held };
  }

  /** The balancers run these now. */
  applied(clusters: readonly AppliedCluster[]): void {
    if (this.closed) return;
    for (const entry of clusters) {
      const before = this.clusters.get(entry.cluster);
      const version = entry.version ?? null;
      const digest = before?.from === entry.members ? before.digest : undefined;
      const appliedAt = before && before.version === version ? before.appliedAt : version === null ? null : new Date(this.now()).toISOString();
      this.clusters.set(entry.cluster, { discovery: entry.discovery, version, digest, members: entry.members.length, appliedAt, held: entry.held.map(nodeKey), from: entry.members });
    }
    this.schedule();
  }

  /** A cluster no longer configured. */
  forget(cluster: string): void {
    this.clusters.delete(cluster);
    this.listedVersions.delete(cluster);
    this.draining.delete(cluster);
  }

  /** A new session or lease of `discovery`: the old record went with the old one. */
  renewed(discovery: string): void {
    this.written.delete(discovery);
    this.reconnected(discovery);
  }

  /** `discovery` is connected again: a write that failed meanwhile is retried now, not after its backoff. */
  reconnected(discovery: string): void {
    if (this.clusters.size === 0 || this.closed) return;
    if (this.failing.has(discovery) || !this.written.has(discovery)) {
      this.retryBackoff.reset();
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.schedule();
  }

  /** Our record was deleted by someone else: written again now, not at the next change. */
  private lost(discovery: string): void {
    if (this.closed) return;
    // At most once per LOST_REWRITE_MS: a writer sharing our record's name would take it back every time.
    const last = this.lostAt.get(discovery) ?? -Infinity;
    if (this.now() - last < LOST_REWRITE_MS) {
      this.options.logger.warn({ discovery }, `discovery "${discovery}": this writer's acknowledgement was deleted again; another writer with the same record name (same host name and state folder)? writing it at the next change`);
      return;
    }
    this.lostAt.set(discovery, this.now());
    this.written.delete(discovery);
    this.options.logger.warn({ discovery }, `discovery "${discovery}": this writer's acknowledgement was deleted by someone else; writing it again`);
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** The record of `discovery` as it would be written now. */
  record(discovery: string): WriterAck {
    const clusters: Record<string, ClusterAck> = {};
    for (const [name, entry] of [...this.clusters].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (entry.discovery !== discovery) continue;
      entry.digest ??= memberDigest(entry.from);
      clusters[name] = { version: entry.version, digest: entry.digest, members: entry.members, appliedAt: entry.appliedAt, held: entry.held, draining: this.draining.get(name) ?? {} };
    }
    return {
      format: ACK_FORMAT,
      writer: writerId(this.options.host, this.options.stateDir),
      host: this.options.host,
      pid: process.pid,
      configDir: this.options.configDir,
      stateDir: this.options.stateDir,
      discovery,
      lighthouse: buildInfo().version,
      writtenAt: '',
      clusters,
    };
  }

  /** The next run: at once when the last was more than the interval ago, else when the interval is over. */
  private schedule(delayMs = 0): void {
    if (this.closed) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(delayMs, this.lastRunAt + this.minIntervalMs - this.now(), 0);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, wait);
    this.timer.unref();
  }

  /**
   * Reads the draining sessions (fresh: after the sync that removed the
   * servers), then writes each record that changed: one `show stat` and at
   * most one write per discovery per run, at most one run per interval.
   */
  private async run(): Promise<void> {
    this.running = true;
    this.dirty = false;
    this.lastRunAt = this.now();
    try {
      let servers: DrainingServer[] = [];
      try {
        servers = await this.options.draining();
      } catch (error) {
        // HAProxy not answering has no sessions we could report; its health is logged elsewhere.
        this.options.logger.debug({ err: error }, `reading draining sessions for the acknowledgement failed: ${errorMessage(error)}`);
      }
      if (this.closed) return;
      const draining = new Map<string, Record<string, number>>();
      for (const server of servers) {
        if (!this.clusters.has(server.cluster)) continue;
        const sessions = draining.get(server.cluster) ?? {};
        sessions[server.server] = server.sessions;
        draining.set(server.cluster, sessions);
      }
      this.draining = draining;
      const discoveries = new Set([...[...this.clusters.values()].map((entry) => entry.discovery), ...this.written.keys()]);
      await Promise.all([...discoveries].map((discovery) => this.write(discovery)));
    } finally {
      this.running = false;
    }
    // Changed meanwhile, a write failed, or sessions are still draining: look again after the interval.
    if (this.failing.size > 0) this.schedule(this.retryBackoff.next());
    else if (this.dirty) this.schedule();
    else if (this.draining.size > 0) this.schedule(this.options.drainPollMs ?? 1_000);
  }

  private async write(discovery: string): Promise<void> {
    const record = this.record(discovery);
    const text = encodeAck(record);
    if (text === this.written.get(discovery)) return;
    const store = this.options.store(discovery);
    if (!store) return;
    if (!this.listening.has(store)) {
      this.listening.add(store);
      store.onLost?.(() => this.lost(discovery));
    }
    const name = ackRecordName(this.options.host, this.options.stateDir, discovery, this.options.machine);
    const where = `${store.location}/${name}`;
    const stamped = { ...record, writtenAt: new Date(this.now()).toISOString() };
    let data = encodeAck(stamped);
    const bytes = Buffer.byteLength(data);
    if (bytes > MAX_RECORD_BYTES) {
      // Sent as is, ZooKeeper refuses it, or drops the connection under every watch of the writer, on every retry.
      data = encodeAck(oversizeAck(stamped, bytes));
      if (!this.oversize.has(discovery)) this.options.logger.error({ discovery, record: where, code: 'LH_ACK_TOO_LARGE', bytes }, `LH_ACK_TOO_LARGE: ${where}: this writer's acknowledgement is ${bytes} bytes, over the ${MAX_RECORD_BYTES} a record may have: writing a stand-in that names its ${Object.keys(record.clusters).length} clusters; drain --wait will not count this writer as acknowledged`);
      this.oversize.add(discovery);
    } else if (this.oversize.delete(discovery)) {
      this.options.logger.info({ discovery, record: where, bytes }, `${where}: this writer's acknowledgement fits again (${bytes} bytes)`);
    }
    try {
      await store.publish(name, data);
    } catch (error) {
      this.options.writes.inc({ discovery, result: 'failed' });
      if (!this.failing.has(discovery)) this.options.logger.warn({ err: error, discovery, record: where }, `${where}: cannot write this writer's acknowledgement (retrying): ${errorMessage(error)}`);
      this.failing.add(discovery);
      return;
    }
    this.written.set(discovery, text);
    this.options.writes.inc({ discovery, result: 'ok' });
    if (this.failing.size === 1 && this.failing.has(discovery)) this.retryBackoff.reset();
    if (this.failing.delete(discovery)) this.options.logger.info({ discovery, record: where }, `${where}: this writer's acknowledgement is written again`);
  }
}
