import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { atomicWrite } from '../lib/atomic-write.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

/**
 * When the writer last brought its balancers in line, for `lighthouse
 * status` (another process, which cannot ask the writer): kept in
 * `writer-sync.json` in the writer's state folder. Left in place when the
 * writer stops, so status can say when a writer that no longer runs last
 * synced; whether one runs is the writer's lock's business.
 */
export interface SyncRecord {
  version: 1;
  pid: number;
  /** ISO time of the last sync that succeeded; null: none yet */
  lastSync: string | null;
  /** ISO time syncs started failing; null while they succeed */
  failingSince: string | null;
  /** the last failure, while failing */
  error: string | null;
}

const recordSchema = z.object({
  version: z.literal(1),
  pid: z.number().int(),
  lastSync: z.string().nullable(),
  failingSince: z.string().nullable(),
  error: z.string().nullable(),
});

export function syncFilePath(stateDir: string): string {
  return join(stateDir, 'writer-sync.json');
}

/**
 * A sync can run many times a second under churn: a success is written at
 * most every `everyMs` (the time it holds may be that much behind), a change
 * between succeeding and failing at once. A write that fails is logged once
 * until one succeeds, and tried again every `everyMs`; it never stops a sync.
 */
export class SyncRecorder {
  private record: SyncRecord = { version: 1, pid: process.pid, lastSync: null, failingSince: null, error: null };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private io: Promise<void> = Promise.resolve();
  private writeFailing = false;
  private lastWrite = 0;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
    private readonly everyMs = 5_000,
  ) {}

  synced(at = Date.now()): void {
    const recovered = this.record.failingSince !== null;
    this.record = { ...this.record, lastSync: new Date(at).toISOString(), failingSince: null, error: null };
    this.schedule(recovered);
  }

  failed(error: unknown, at = Date.now()): void {
    const started = this.record.failingSince === null;
    this.record = { ...this.record, failingSince: this.record.failingSince ?? new Date(at).toISOString(), error: errorMessage(error) };
    this.schedule(started);
  }

  /** Writes what is pending (a stop): the last sync stays on record. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.write();
    }
    await this.io;
  }

  private schedule(now: boolean): void {
    if (now || Date.now() - this.lastWrite >= this.everyMs) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.write();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, this.everyMs - (Date.now() - this.lastWrite));
    this.timer.unref();
  }

  private write(): void {
    this.lastWrite = Date.now();
    const text = `${JSON.stringify(this.record, null, 1)}\n`;
    this.io = this.io.then(async () => {
      try {
        await mkdir(dirname(this.path), { recursive: true });
        await atomicWrite(this.path, text);
        if (this.writeFailing) this.logger.info({ file: this.path }, `${this.path}: the last sync time for "lighthouse status" is written again`);
        this.writeFailing = false;
      } catch (error) {
        if (!this.writeFailing) this.logger.warn({ code: 'LH_FILE_WRITE', file: this.path, err: error }, `${this.path}: cannot write the last sync time for "lighthouse status": ${errorMessage(error)} (tried again every ${this.everyMs / 1000} s)`);
        this.writeFailing = true;
        // Tried again without waiting for a sync: a quiet cluster may not sync for hours, and
        // status would say what the file says (NOT IN SYNC after syncs recovered).
        if (!this.closed) {
          this.timer ??= setTimeout(() => {
            this.timer = undefined;
            this.write();
          }, this.everyMs);
          this.timer.unref();
        }
      }
    });
  }
}

/** The record, or undefined when there is none; one that is not ours is an error naming the file. */
export async function readSyncRecord(path: string): Promise<SyncRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  try {
    return recordSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new Error(`${path}: not the writer's sync record: ${errorMessage(error).split('\n')[0]}`, { cause: error });
  }
}
