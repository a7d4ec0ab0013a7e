import { unwatchFile, watchFile } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { atomicWrite } from '../lib/atomic-write.js';
import { acquireDirLock } from '../lib/dir-lock.js';
import { LighthouseError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { DrainSource } from './reporter.js';

/**
 * Operator drains (`lighthouse drain` / `undrain`) live in one JSON file per
 * config directory, `<CONFIG_DIR>/.state/drains.json`. A file (not a socket
 * to the running reporter) because a drain must outlive reporter restarts and
 * must work while no reporter runs; inside the config dir because that is the
 * one path both the CLI and the daemon already share; in a dot-folder because
 * the config scanner ignores those.
 */
export function drainFilePath(configDir: string): string {
  return join(configDir, '.state', 'drains.json');
}

const entrySchema = z.strictObject({
  ports: z.union([z.literal('all'), z.array(z.number().int().min(1).max(65535))]),
  reason: z.string(),
  /** ISO time of the drain */
  since: z.string(),
});

const maintenanceSchema = z.strictObject({
  reason: z.string(),
  /** ISO time maintenance began */
  since: z.string(),
});

const fileSchema = z.strictObject({
  version: z.literal(1),
  services: z.record(z.string(), entrySchema),
  /** node-wide maintenance (`lighthouse maintenance on`): every service of the machine drained, also services added meanwhile */
  maintenance: maintenanceSchema.optional(),
});

export type DrainEntry = z.output<typeof entrySchema>;
export type DrainState = z.output<typeof fileSchema>;
export type Maintenance = z.output<typeof maintenanceSchema>;

/**
 * The drain in force for a service: node-wide maintenance drains every port
 * and wins over the service's own drain, which is kept underneath (it is in
 * force again when maintenance ends).
 */
export function effectiveDrain(state: DrainState, service: string): DrainEntry | undefined {
  if (state.maintenance) return { ports: 'all', reason: `maintenance: ${state.maintenance.reason}`, since: state.maintenance.since };
  return state.services[service];
}

/** Starts node-wide maintenance; a second `on` replaces the reason and keeps the original start. */
export function withMaintenance(state: DrainState, reason: string, now: Date): DrainState {
  return { ...state, maintenance: { reason, since: state.maintenance?.since ?? now.toISOString() } };
}

export function withoutMaintenance(state: DrainState): DrainState {
  const { maintenance: _ended, ...rest } = state;
  return rest;
}

export const emptyDrains = (): DrainState => ({ version: 1, services: {} });

/** The drains in force; a missing file means none. A broken file is an error naming it (never silently "no drains"). */
export async function readDrains(path: string): Promise<DrainState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyDrains();
    throw new LighthouseError('LH_CONFIG_INVALID', `${path}: cannot be read: ${errorMessage(error)}`, {}, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LighthouseError('LH_CONFIG_PARSE', `${path}: not valid JSON: ${errorMessage(error)}`, {}, { cause: error });
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LighthouseError('LH_CONFIG_INVALID', `${path}: ${issue?.path.join('.') || 'top level'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export async function writeDrains(path: string, state: DrainState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await atomicWrite(path, `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Reads, changes and writes the drain file as one step: under a lock file
 * beside it (`drains.json.lock`), so two `lighthouse drain` at once both
 * land (without it, one overwrote the other's drain while both printed
 * "Recorded"). `change` returning undefined writes nothing. A concurrent
 * command waits for its turn, up to `waitMs`.
 */
export async function updateDrains(path: string, change: (state: DrainState) => DrainState | undefined, waitMs = 10_000): Promise<DrainState> {
  await mkdir(dirname(path), { recursive: true });
  const lock = await acquireDirLock(`${path}.lock`, { role: 'lighthouse drain', waitMs });
  try {
    const before = await readDrains(path);
    const after = change(before);
    if (after === undefined) return before;
    await writeDrains(path, after);
    return after;
  } finally {
    await lock.release();
  }
}

/**
 * Adds a drain. Draining more ports of a service keeps the ones already
 * drained; draining the whole service (`ports: 'all'`) replaces them.
 */
export function withDrain(state: DrainState, service: string, ports: number[] | 'all', reason: string, now: Date): DrainState {
  const before = state.services[service];
  let merged: number[] | 'all' = ports;
  if (ports !== 'all' && before) merged = before.ports === 'all' ? 'all' : [...new Set([...before.ports, ...ports])].sort((a, b) => a - b);
  return { ...state, services: { ...state.services, [service]: { ports: merged, reason, since: now.toISOString() } } };
}

/**
 * Ends a drain. Undraining some ports of a service drained as a whole keeps
 * the rest drained: `servicePorts` (from the service file) says what the rest is.
 */
export function withoutDrain(state: DrainState, service: string, ports: number[] | 'all', servicePorts: readonly number[]): DrainState {
  const before = state.services[service];
  if (!before) return state;
  const services = { ...state.services };
  if (ports === 'all') {
    delete services[service];
  } else {
    const remaining = (before.ports === 'all' ? [...servicePorts] : before.ports).filter((port) => !ports.includes(port));
    if (remaining.length === 0) delete services[service];
    else services[service] = { ...before, ports: remaining };
  }
  return { ...state, services };
}

/**
 * The running reporter's view of the drain file: a DrainSource for runners
 * that start later, and a change callback for the ones already running. The
 * file is polled (stat every `intervalMs`): it changes rarely, and polling
 * also sees the folder being created after the reporter started.
 *
 * A file that cannot be read when the reporter starts says nothing about
 * which ports are drained, so until it can be read every service counts as
 * drained as a whole (`'unreadable'`): starting with "no drains" registered
 * the ports an operator had drained before the restart.
 */
export class DrainWatcher implements DrainSource {
  private state: DrainState | 'unreadable' = emptyDrains();
  private listener: ((previous: DrainState | 'unreadable', next: DrainState) => void) | undefined;
  private reading: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly onStat = (): void => {
    this.reading = this.reading.then(() => this.reload());
  };

  constructor(
    readonly path: string,
    private readonly logger: Logger,
    private readonly intervalMs = 500,
  ) {}

  /** Reads the file once (a broken file holds every service out, see above) and starts watching it. */
  async start(): Promise<void> {
    try {
      this.state = await readDrains(this.path);
    } catch (error) {
      this.state = 'unreadable';
      this.logger.error({ err: error, file: this.path }, `${errorMessage(error)}; every service counts as drained until it can be read (it may drain some of them)`);
    }
    watchFile(this.path, { interval: this.intervalMs, persistent: false }, this.onStat);
  }

  /** `previous` is 'unreadable' when the file could not be read since the start: every service was drained as a whole ({@link unreadableEntry}). */
  onChange(listener: (previous: DrainState | 'unreadable', next: DrainState) => void): void {
    this.listener = listener;
  }

  drainsFor(service: string): { ports: number[] | 'all'; reason: string } | undefined {
    if (this.state === 'unreadable') return { ports: 'all', reason: this.unreadableReason() };
    const entry = effectiveDrain(this.state, service);
    return entry ? { ports: entry.ports, reason: entry.reason } : undefined;
  }

  /** The drains in force; undefined while the file could not be read since the start. */
  current(): DrainState | undefined {
    return this.state === 'unreadable' ? undefined : this.state;
  }

  /** What every service's drain is while the file has not been read. */
  unreadableEntry(): DrainEntry {
    return { ports: 'all', reason: this.unreadableReason(), since: '' };
  }

  private unreadableReason(): string {
    return `${this.path} cannot be read`;
  }

  private async reload(): Promise<void> {
    if (this.closed) return;
    let next: DrainState;
    try {
      next = await readDrains(this.path);
    } catch (error) {
      // Keep the drains in force: a half-edited file must not put drained ports back into rotation.
      this.logger.error({ err: error, file: this.path }, `${errorMessage(error)}; keeping the drains in force`);
      return;
    }
    const previous = this.state;
    this.state = next;
    if (previous === 'unreadable') this.logger.info({ file: this.path }, `${this.path}: read; its drains replace the drain of every service`);
    if (JSON.stringify(previous) !== JSON.stringify(next)) this.listener?.(previous, next);
  }

  close(): void {
    this.closed = true;
    unwatchFile(this.path, this.onStat);
  }
}

/** What a running runner must do to go from one drain entry to the next. */
export interface DrainRunner {
  setDrained(ports: readonly number[] | 'all', reason: string): void;
  undrain(ports: readonly number[] | 'all'): void;
}

export function applyDrainChange(runner: DrainRunner, before: DrainEntry | undefined, after: DrainEntry | undefined): void {
  if (!after) {
    if (before) runner.undrain('all');
    return;
  }
  if (before && JSON.stringify(before) === JSON.stringify(after)) return;
  if (before?.ports === 'all' && after.ports !== 'all') {
    // From "everything" to some ports: clear the service-wide drain, then drain the ports that stay.
    runner.undrain('all');
    runner.setDrained(after.ports, after.reason);
    return;
  }
  runner.setDrained(after.ports, after.reason);
  if (before && before.ports !== 'all' && after.ports !== 'all') {
    const released = before.ports.filter((port) => !(after.ports as number[]).includes(port));
    if (released.length > 0) runner.undrain(released);
  }
}
