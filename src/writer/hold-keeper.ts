import { createConnection } from 'node:net';
import type { Counter, Gauge } from 'prom-client';
import { nodeKey, type ClusterNode } from '../discovery/node.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ClusterState } from './cluster-state.js';
import { defaultStateDir, holdsFilePath, readHolds, takeReleaseRequest, writeHolds, type HeldCluster } from './holds-file.js';

export interface HoldKeeperOptions {
  configDir: string;
  /** where the holds file and release requests are (the writer's --state-dir) */
  stateDir: string;
  logger: Logger;
  heldMembers: Gauge<'cluster'>;
  holdsStarted: Counter<'cluster'>;
  /** an operator asked to release the cluster's hold */
  release(cluster: string): void;
  /** these held members did not answer their probes */
  dropHeld(cluster: string, keys: string[]): void;
  probeHeld(cluster: string): boolean;
  /** between two looks at release requests and probes of held members */
  tickMs?: number;
  /** consecutive failed probes that drop a held member */
  probeFailures?: number;
  probeTimeoutMs?: number;
}

interface Kept {
  hold: HeldCluster;
  members: readonly ClusterNode[];
  failures: Map<string, number>;
}

const PROBE_CONCURRENCY = 64;

/**
 * Everything about holds besides the decision: the log lines, the metric,
 * the holds file for `status`, release requests and probes of held members.
 * Nothing runs while no cluster is held: `observe` returns after one map
 * lookup and no timer exists.
 */
export class HoldKeeper {
  private readonly kept = new Map<string, Kept>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private writing: Promise<void> = Promise.resolve();
  /** the last holds-file write failed: warned once per change between failing and written, as the member cache is */
  private writeFailing = false;
  private closed = false;

  constructor(private readonly options: HoldKeeperOptions) {}

  /** A holds file left by an earlier run would show holds that no longer exist. */
  async start(): Promise<void> {
    if (Object.keys(await readHolds(this.options.stateDir)).length > 0) this.persist();
  }

  observe(cluster: string, state: ClusterState): void {
    const before = this.kept.get(cluster);
    if (!state.hold && !before) return;
    const { logger } = this.options;
    if (!state.hold) {
      this.kept.delete(cluster);
      this.options.heldMembers.set({ cluster }, 0);
      logger.info({ cluster, listed: state.listed }, `cluster "${cluster}": hold released, discovery lists ${state.listed} members and HAProxy routes ${state.members.length}`);
      this.persist();
      this.schedule();
      return;
    }
    const hold: HeldCluster = {
      held: state.held.map(nodeKey),
      listed: state.hold.listed,
      reference: state.hold.reference,
      floor: state.hold.floor,
      since: new Date(state.hold.since).toISOString(),
    };
    if (!before) {
      this.options.holdsStarted.inc({ cluster });
      logger.warn(
        // A few names are enough to recognise the cluster in a log; status has them all.
        { code: 'LH_REMOVAL_HELD', cluster, listed: hold.listed, reference: hold.reference, floor: hold.floor, held: hold.held.slice(0, 20) },
        `cluster "${cluster}": discovery lists ${hold.listed} members, below the floor of ${formatFloor(hold.floor)} (${hold.reference} listed recently): keeping ${hold.held.length} members routed until enough are listed again or "lighthouse release-hold ${this.options.configDir} ${cluster}${stateDirArgument(this.options)}"`,
      );
    }
    const previous = before?.failures ?? new Map<string, number>();
    const failures = new Map([...previous].filter(([key]) => hold.held.includes(key)));
    this.kept.set(cluster, { hold, members: state.held, failures });
    this.options.heldMembers.set({ cluster }, hold.held.length);
    // A release request written before this hold started is not for it; it goes before the holds file shows the hold.
    if (!before || before.hold.held.length !== hold.held.length || before.hold.listed !== hold.listed) this.persist(before ? undefined : cluster);
    this.schedule();
  }

  forget(cluster: string): void {
    if (!this.kept.delete(cluster)) return;
    this.options.heldMembers.remove({ cluster });
    this.persist();
    this.schedule();
  }

  holds(): ReadonlyMap<string, HeldCluster> {
    return new Map([...this.kept].map(([cluster, kept]) => [cluster, kept.hold]));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.writing;
  }

  private schedule(): void {
    if (this.kept.size > 0 && !this.timer && !this.closed) {
      this.timer = setInterval(() => void this.tick(), this.options.tickMs ?? 1_000);
      this.timer.unref();
    } else if (this.kept.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      for (const cluster of [...this.kept.keys()]) {
        if (await takeReleaseRequest(this.options.stateDir, cluster)) {
          this.options.logger.warn({ cluster }, `cluster "${cluster}": hold released by an operator: removing the held members`);
          this.options.release(cluster);
          continue;
        }
        if (this.options.probeHeld(cluster)) await this.probe(cluster);
      }
    } finally {
      this.ticking = false;
    }
  }

  /** A held member whose port refuses or does not answer a few times in a row is dead, not merely unlisted. */
  private async probe(cluster: string): Promise<void> {
    const kept = this.kept.get(cluster);
    if (!kept) return;
    const limit = this.options.probeFailures ?? 2;
    const dead: string[] = [];
    const queue = [...kept.members];
    const worker = async (): Promise<void> => {
      for (let node = queue.shift(); node; node = queue.shift()) {
        const key = nodeKey(node);
        const answered = await reachable(node.ip, node.port, this.options.probeTimeoutMs ?? 1_000);
        const failures = answered ? 0 : (kept.failures.get(key) ?? 0) + 1;
        kept.failures.set(key, failures);
        if (failures >= limit) dead.push(key);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, queue.length) }, worker));
    if (dead.length === 0 || this.kept.get(cluster) !== kept) return;
    this.options.logger.warn({ cluster, dead }, `cluster "${cluster}": held members do not answer on their ports, removing them: ${dead.join(', ')}`);
    this.options.dropHeld(cluster, dead);
  }

  /** Writes are chained so the file always ends with the latest holds. */
  private persist(staleRequestOf?: string): void {
    this.writing = this.writing.then(async () => {
      if (staleRequestOf !== undefined) await takeReleaseRequest(this.options.stateDir, staleRequestOf);
      const clusters = Object.fromEntries([...this.kept].map(([cluster, kept]) => [cluster, kept.hold]));
      try {
        await writeHolds(this.options.stateDir, clusters);
      } catch (error) {
        if (!this.writeFailing) this.options.logger.warn({ err: error }, `cannot write the holds file for "lighthouse status": ${errorMessage(error)}`);
        this.writeFailing = true;
        return;
      }
      if (this.writeFailing) this.options.logger.info({ file: holdsFilePath(this.options.stateDir) }, `the holds file for "lighthouse status" is written again`);
      this.writeFailing = false;
    });
  }
}

/** What release-hold needs to find this writer's state folder, when it is not the default one. */
function stateDirArgument(options: HoldKeeperOptions): string {
  return options.stateDir === defaultStateDir(options.configDir) ? '' : ` --state-dir ${options.stateDir}`;
}

function formatFloor(floor: number): string {
  return Number.isInteger(floor) ? String(floor) : floor.toFixed(1);
}

function reachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (answered: boolean): void => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
