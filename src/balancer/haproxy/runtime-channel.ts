import { silentLogger, type Logger } from '../../lib/logger.js';
import { haproxyPaths, type HaproxyPaths } from './paths.js';
import { HaproxyProcess } from './process.js';
import { adminSocket, parseInfo, parseServersState, type CliSocket, type Row, type ShowProc } from './runtime-api.js';
import type { HaproxyConfig } from './schema.js';
import { StatSnapshot, type ServerStat } from './stat-snapshot.js';

export type { ServerStat } from './stat-snapshot.js';

/** How old a `show stat` snapshot may be when served to a status page. */
export const STAT_SNAPSHOT_MAX_AGE_MS = 1_000;

/** Counters for status and metrics; they only grow. (A type, not an interface, so it is a `Record<string, number>` for BalancerStats.) */
export type HaproxyCounters = {
  /** runtime API commands sent to the worker's admin socket (the writer's and the status reads) */
  runtimeCommands: number;
  /** `show stat` commands sent for status pages (dashboard, status), at most one per snapshot age */
  statReads: number;
  /** membership changes applied without a reload (servers added, removed, re-addressed) */
  runtimeChanges: number;
  /** successful reloads (master-worker or -sf) */
  reloads: number;
  reloadFailures: number;
  /** HAProxy started because none was running (first start or after it died) */
  starts: number;
  startFailures: number;
  /** removals that had to cut connections after the drain deadline */
  forcedRemovals: number;
  /** configs `haproxy -c` rejected */
  rejectedConfigs: number;
  /** config writes done after a runtime-only change (off the critical path) */
  backgroundWrites: number;
  /** the part of backgroundWrites not re-checked with `haproxy -c` (HAProxy had accepted every line of it already) */
  membershipWrites: number;
  /** `set server ... weight` applied at run time (weights from metadata or rules) */
  weightChanges: number;
  /** servers removed to be added back with the other role (backup or active): zone-aware spillover and its return */
  roleChanges: number;
  /** times a zone-aware cluster started spilling over to other zones */
  zoneSpillovers: number;
};

/** Every counter at zero: a new channel's, or a test's stand-in. */
export function emptyHaproxyCounters(): HaproxyCounters {
  return {
    runtimeCommands: 0,
    statReads: 0,
    runtimeChanges: 0,
    reloads: 0,
    reloadFailures: 0,
    starts: 0,
    startFailures: 0,
    forcedRemovals: 0,
    rejectedConfigs: 0,
    backgroundWrites: 0,
    membershipWrites: 0,
    weightChanges: 0,
    roleChanges: 0,
    zoneSpillovers: 0,
  };
}

/**
 * The one channel to a running HAProxy's runtime API. Every command goes
 * through `command()` and is counted: the balancer's writes (`add server`,
 * `del server`, ...) as well as the reads of the `status` command, the
 * dashboard and metrics (`show stat`, `show servers state`, `show info`,
 * `show proc`). It also holds the balancer's counters. It decides nothing:
 * what to change is the balancer's (runtime-ops.ts, sync-policy.ts).
 */
export class HaproxyControl {
  readonly counters: HaproxyCounters = emptyHaproxyCounters();

  private readonly stats: StatSnapshot;

  constructor(
    readonly paths: HaproxyPaths,
    readonly admin: CliSocket,
    readonly process: HaproxyProcess,
  ) {
    this.stats = new StatSnapshot({
      path: paths.adminSocket,
      maxAgeMs: STAT_SNAPSHOT_MAX_AGE_MS,
      onRead: () => {
        this.counters.runtimeCommands += 1;
        this.counters.statReads += 1;
      },
    });
  }

  /** Sends one runtime API command to the current worker (counted). */
  command(command: string, timeoutMs?: number): Promise<string> {
    this.counters.runtimeCommands += 1;
    return this.admin.command(command, timeoutMs);
  }

  /**
   * `show stat` of the current worker: every frontend, backend and server.
   * Over its own connection, never queued with the writer's changes, and
   * shared by all callers for up to STAT_SNAPSHOT_MAX_AGE_MS (see StatSnapshot).
   */
  serverStats(): Promise<ServerStat[]> {
    return this.stats.read();
  }

  /** `show servers state`: admin/operational state and address of every server. */
  async serverStates(): Promise<Row[]> {
    return parseServersState(await this.command('show servers state'));
  }

  /** `show info` of the current worker (Pid, Uptime_sec, CurrConns, ...). */
  async info(): Promise<Row> {
    return parseInfo(await this.command('show info'));
  }

  /** The current worker's pid, from `show info`. */
  async workerPid(): Promise<number | undefined> {
    const pid = Number((await this.info()).Pid);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** Master and workers from the master CLI (undefined when no master-worker HAProxy answers). */
  async processes(): Promise<ShowProc | undefined> {
    return this.process.showProc(2_000).catch(() => undefined);
  }

  close(): void {
    this.admin.close();
  }
}

/** A control handle from the balancer file alone, for a process (e.g. `lighthouse status`) that does not run the writer. */
export function createHaproxyControl(config: HaproxyConfig, logger: Logger = silentLogger()): HaproxyControl {
  const paths = haproxyPaths(config);
  return new HaproxyControl(paths, adminSocket(paths.adminSocket), new HaproxyProcess({ binary: config.haproxy_binary, paths, logger }));
}
