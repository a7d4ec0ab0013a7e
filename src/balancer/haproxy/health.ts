import { readFile, unlink } from 'node:fs/promises';
import { atomicWrite } from '../../lib/atomic-write.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';

/** What `<config_file>.down` holds while the writer cannot get HAProxy running (read by `lighthouse status`). */
export interface DownMarker {
  /** ISO time HAProxy was found gone (or first failed to start) */
  since: string;
  /** the latest start attempt's error */
  error: string;
  /** failed start attempts so far */
  attempts: number;
}

/**
 * Whether HAProxy serves, as far as the writer knows: up after a confirmed
 * start, reload or adoption; down from the moment it is found gone or a start
 * fails until a start succeeds. Each change is logged once (a retry loop
 * under backoff must not fill the log), shown by the `lighthouse_haproxy_up`
 * gauge, and, while down, kept in a marker file for `lighthouse status`, which
 * runs in another process.
 */
export class HaproxyHealth {
  /** `since` undefined: not started yet (a writer starting up), which is not an outage to report */
  private state: { up: true } | { up: false; since: number | undefined; attempts: number; error: string | undefined } = { up: false, since: undefined, attempts: 0, error: undefined };
  /** marker writes and removals, in order (a late write must not bring back a removed marker) */
  private markerIo: Promise<void> = Promise.resolve();

  constructor(
    private readonly markerFile: string,
    private readonly logger: Logger,
  ) {}

  get up(): boolean {
    return this.state.up;
  }

  /** HAProxy confirmed it runs (started, reloaded or adopted). */
  serving(): void {
    const was = this.state;
    if (was.up) return;
    this.state = { up: true };
    if (was.since !== undefined) {
      const downMs = Date.now() - was.since;
      this.logger.info({ downMs, attempts: was.attempts }, `HAProxy is serving again after ${(downMs / 1000).toFixed(1)} s down (${was.attempts} failed start attempts)`);
    }
    // Also clears a marker left by a writer that stopped while HAProxy was down.
    this.syncMarker();
  }

  /** HAProxy was found gone: it serves nothing until a start succeeds. */
  gone(): void {
    if (!this.state.up) return;
    this.state = { up: false, since: Date.now(), attempts: 0, error: undefined };
    this.syncMarker();
  }

  /** A start with nothing else serving failed; logged as an error only for the first failure of an outage. */
  startFailed(error: unknown, retryInMs: number | undefined): void {
    if (this.state.up) this.state = { up: false, since: Date.now(), attempts: 0, error: undefined };
    this.state.since ??= Date.now();
    const first = this.state.attempts === 0;
    this.state.attempts += 1;
    this.state.error = errorMessage(error);
    const retry = retryInMs === undefined ? 'retried on the next change and with backoff' : `retried with backoff (next in ${(retryInMs / 1000).toFixed(1)} s)`;
    if (first) this.logger.error({ err: error, retryInMs }, `HAProxy is down and could not be started again: ${this.state.error}; ${retry} until it serves`);
    else this.logger.debug({ err: error, attempts: this.state.attempts, retryInMs }, `HAProxy still cannot be started: ${this.state.error}`);
    this.syncMarker();
  }

  /** Brings the marker file in line with the state at the time the write runs. */
  private syncMarker(): void {
    this.markerIo = this.markerIo.then(async () => {
      const state = this.state;
      if (state.up) {
        await unlink(this.markerFile).catch(() => undefined);
        return;
      }
      const marker: DownMarker = { since: new Date(state.since ?? Date.now()).toISOString(), error: state.error ?? 'found gone; starting it again', attempts: state.attempts };
      // Best effort: on a full disk the marker cannot be written either; the log and the gauge still say it.
      await atomicWrite(this.markerFile, `${JSON.stringify(marker)}\n`).catch((error: unknown) => this.logger.debug({ err: error }, 'cannot write the HAProxy down marker'));
    });
  }

  /** Resolves once marker writes so far are done (close, tests). */
  settle(): Promise<void> {
    return this.markerIo;
  }
}

/** The writer's down marker, if HAProxy is down (for `lighthouse status`, which cannot ask the writer). */
export async function readDownMarker(path: string): Promise<DownMarker | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<DownMarker>;
    if (typeof parsed.since !== 'string' || typeof parsed.error !== 'string') return undefined;
    return { since: parsed.since, error: parsed.error, attempts: typeof parsed.attempts === 'number' ? parsed.attempts : 0 };
  } catch {
    return undefined;
  }
}
