import { mkdir, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { RegistrationHolder } from '../discovery/types.js';
import { atomicWrite } from '../lib/atomic-write.js';
import { liveLockOwner, processStartTime, type LockOwner } from '../lib/dir-lock.js';
import { z } from 'zod';
import { LighthouseError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { PortReport } from './port-report.js';

/**
 * What only the running reporter knows and `lighthouse status` (another
 * process) must show: handovers stalled on a new discovery session, ports
 * yielded to another session, and each port's checks (why it is or is not
 * registered). Kept in `reporter-state.json` in the state folder, beside the
 * reporter's lock; there while the reporter has something to say (any
 * service port, or trouble), removed on a clean stop.
 */

export interface StalledHandover {
  service: string;
  discovery: string;
  /** the discovery file of the new session */
  file: string;
  /** ISO time the handover started */
  since: string;
  /** the new session's state (connecting, disconnected, ...) */
  session: string;
}

export interface ConflictingPort {
  service: string;
  port: number;
  /** `host:port` both sessions register */
  node: string;
  /** the other session (ZooKeeper) or lease (etcd), holding the node */
  holder: RegistrationHolder;
  /** this reporter's session or lease, which yields */
  session: string | null;
  /** ISO time the conflict was detected */
  since: string;
}

export interface ReporterTroubles {
  stalled: StalledHandover[];
  conflicts: ConflictingPort[];
  /** every port of every service, with its last check results; absent in files of older reporters */
  ports?: PortReport[];
}

interface StateFile extends ReporterTroubles {
  version: 1;
  /** the reporter that wrote it, to tell its file from a dead one's */
  pid: number;
  startTime: string | null;
  host: string;
  /** ISO time of the write */
  updated: string;
}

// What status accepts from the file: a hand-edited or foreign file is reported, not half-shown.
const fileSchema = z.object({
  version: z.literal(1),
  pid: z.number().int(),
  startTime: z.string().nullable(),
  host: z.string(),
  updated: z.string(),
  stalled: z.array(z.object({ service: z.string(), discovery: z.string(), file: z.string(), since: z.string(), session: z.string() })),
  conflicts: z.array(
    z.object({
      service: z.string(),
      port: z.number().int(),
      node: z.string(),
      holder: z.object({ session: z.string(), host: z.string().optional(), ip: z.string().optional() }),
      session: z.string().nullable(),
      since: z.string(),
    }),
  ),
  ports: z
    .array(
      z.object({
        service: z.string(),
        port: z.number().int(),
        node: z.string(),
        up: z.boolean(),
        registered: z.boolean(),
        drained: z.string().nullable(),
        lastError: z.string().nullable(),
        checks: z.array(z.object({ kind: z.string(), up: z.boolean(), passed: z.boolean().nullable(), detail: z.string().nullable(), since: z.string().nullable() })),
      }),
    )
    .default([]),
});

export function reporterStatePath(stateDir: string): string {
  return join(stateDir, 'reporter-state.json');
}

/**
 * Keeps the file in line with the reporter's troubles. Written only when they
 * change (the reporter calls update() on events, which mostly repeat the
 * same state), removed when nothing is wrong and on close. A failed write is
 * logged once per change and is never fatal: the log and the metrics still
 * say it.
 */
export class ReporterStateWriter {
  /** the state last asked for (undefined: none yet, so the first update also clears a file left by a crash) */
  private wanted: string | undefined;
  /** writes in order: a late write must not bring back a removed file */
  private io: Promise<void> = Promise.resolve();
  private closed = false;
  private soon: NodeJS.Timeout | undefined;
  /** a write failed: tried again until one succeeds (status would show the state before the failure as current) */
  private retry: NodeJS.Timeout | undefined;
  private failing = false;
  /** the last state whose write failed, for the retry */
  private failed: ReporterTroubles | undefined;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
    private readonly retryMs = 5_000,
  ) {}

  update(troubles: ReporterTroubles): void {
    if (this.closed) return;
    const key = JSON.stringify(troubles);
    if (key === this.wanted) return;
    this.wanted = key;
    this.io = this.io.then(() => (this.wanted === key ? this.write(troubles) : undefined));
  }

  /**
   * update() at most once per quarter second, with the troubles as they are
   * then: for per-port events (check results, registrations), where building
   * the troubles reads every runner's status, and a thousand flapping ports
   * each asking on every result would cost a million port reads a second.
   */
  updateSoon(troubles: () => ReporterTroubles): void {
    if (this.soon || this.closed) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.update(troubles());
    }, 250);
    this.soon.unref();
  }

  /** Removes the file (clean shutdown); later updates are ignored. */
  async close(): Promise<void> {
    if (this.closed) return this.io;
    this.closed = true;
    clearTimeout(this.soon);
    clearTimeout(this.retry);
    this.wanted = '';
    this.io = this.io.then(() => this.write({ stalled: [], conflicts: [], ports: [] }));
    return this.io;
  }

  /** Resolves once the writes asked for so far are done (tests). */
  settle(): Promise<void> {
    return this.io;
  }

  private async write(troubles: ReporterTroubles, again = false): Promise<void> {
    const empty = troubles.stalled.length === 0 && troubles.conflicts.length === 0 && (troubles.ports ?? []).length === 0;
    try {
      if (empty) {
        await unlink(this.path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        });
      } else {
        const file: StateFile = { version: 1, pid: process.pid, startTime: processStartTime(process.pid), host: hostname(), updated: new Date().toISOString(), ...troubles };
        await mkdir(dirname(this.path), { recursive: true });
        await atomicWrite(this.path, `${JSON.stringify(file, null, 1)}\n`);
      }
      this.failed = undefined;
      if (this.failing) this.logger.info({ file: this.path }, `${this.path}: the reporter's state for \`lighthouse status\` is ${empty ? 'removed' : 'written'} again`);
      this.failing = false;
    } catch (error) {
      this.failing = true;
      // The retries of one state are not news; a new state failing is (once per change).
      if (!again) {
        this.logger.warn(
          { code: 'LH_FILE_WRITE', file: this.path, err: error, stalled: troubles.stalled.length, conflicts: troubles.conflicts.length },
          `${this.path}: cannot ${empty ? 'remove' : 'write'} the reporter's state for \`lighthouse status\` (${troubles.stalled.length} stalled handover(s), ${troubles.conflicts.length} registration conflict(s)): ${errorMessage(error)}; status may show an older state until it is written (tried again every ${this.retryMs / 1000} s)`,
        );
      }
      this.retryLater(troubles);
    }
  }

  /** The state that failed, again later: unless a newer one was asked for meanwhile (its own write is queued, and retries if it fails). */
  private retryLater(troubles: ReporterTroubles): void {
    this.failed = troubles;
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      const failed = this.failed;
      this.failed = undefined;
      if (this.closed || !failed) return;
      const key = JSON.stringify(failed);
      this.io = this.io.then(() => (this.wanted === key && !this.closed ? this.write(failed, true) : undefined));
    }, this.retryMs);
    this.retry.unref();
  }
}

export interface ReporterStateView extends ReporterTroubles {
  file: string;
  /** ISO time the reporter wrote it */
  updated: string;
  pid: number;
  /** null: written by the reporter running now; else why it is not current (that reporter no longer runs) */
  stale: string | null;
}

/**
 * The reporter's state file, if there is one, with whether its writer still
 * holds the reporter lock at `lockPath`: a reporter killed with SIGKILL (or
 * that lost the power) leaves the file behind, and what it says is then
 * history, not the present. A file that cannot be read or is not one of
 * ours fails naming it: saying nothing would read as "nothing is wrong".
 */
export async function readReporterState(path: string, lockPath: string): Promise<ReporterStateView | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LighthouseError('LH_CONFIG_INVALID', `the reporter's state cannot be read: ${errorMessage(error)}`, { file: path }, { cause: error });
  }
  let parsed: StateFile;
  try {
    parsed = fileSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new LighthouseError('LH_CONFIG_INVALID', `not a reporter state file (written by the reporter, read by \`lighthouse status\`): ${errorMessage(error).split('\n')[0]}`, { file: path }, { cause: error });
  }
  const owner = await liveLockOwner(lockPath);
  return { file: path, updated: parsed.updated, pid: parsed.pid, stale: staleness(parsed, owner, lockPath), stalled: parsed.stalled, conflicts: parsed.conflicts, ports: parsed.ports };
}

function staleness(file: StateFile, owner: LockOwner | undefined, lockPath: string): string | null {
  if (!owner) return `no reporter holds ${lockPath}: reporter PID ${file.pid}, which wrote it, no longer runs`;
  const same = owner.pid === file.pid && owner.host === file.host && (owner.startTime === null || file.startTime === null || owner.startTime === file.startTime);
  return same ? null : `written by reporter PID ${file.pid}, which no longer runs; PID ${owner.pid} holds ${lockPath} now`;
}
