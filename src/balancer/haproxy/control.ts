import { silentLogger, type Logger } from '../../lib/logger.js';
import { haproxyPaths, type HaproxyPaths } from './paths.js';
import { HaproxyProcess } from './process.js';
import { adminSocket, parseInfo, parseServersState, parseStatCsv, type CliSocket, type Row, type ShowProc } from './runtime-api.js';
import type { HaproxyConfig } from './schema.js';

/** Counters for status and metrics; they only grow. */
export interface HaproxyCounters {
  /** runtime API commands sent to the worker's admin socket */
  runtimeCommands: number;
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
}

/** One server or proxy line of `show stat`, with the columns a status page needs (all columns in `raw`). */
export interface ServerStat {
  proxy: string;
  server: string;
  /** UP, DOWN, MAINT, DRAIN, no check, OPEN (frontends), ... */
  status: string;
  currentSessions: number;
  totalSessions: number;
  raw: Row;
}

/**
 * The handle other parts (the `status` command, metrics) use to look at a
 * running HAProxy: its counters and its own view of servers and processes.
 * It only reads; the balancer is what changes HAProxy.
 */
export class HaproxyControl {
  readonly counters: HaproxyCounters = {
    runtimeCommands: 0,
    runtimeChanges: 0,
    reloads: 0,
    reloadFailures: 0,
    starts: 0,
    startFailures: 0,
    forcedRemovals: 0,
    rejectedConfigs: 0,
    backgroundWrites: 0,
    membershipWrites: 0,
  };

  constructor(
    readonly paths: HaproxyPaths,
    readonly admin: CliSocket,
    readonly process: HaproxyProcess,
  ) {}

  /** Sends one runtime API command to the current worker (counted). */
  command(command: string, timeoutMs?: number): Promise<string> {
    this.counters.runtimeCommands += 1;
    return this.admin.command(command, timeoutMs);
  }

  /** `show stat` of the current worker: every frontend, backend and server. */
  async serverStats(): Promise<ServerStat[]> {
    return parseStatCsv(await this.command('show stat')).map((row) => ({
      proxy: row.pxname ?? '',
      server: row.svname ?? '',
      status: row.status ?? '',
      currentSessions: Number(row.scur ?? 0),
      totalSessions: Number(row.stot ?? 0),
      raw: row,
    }));
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
