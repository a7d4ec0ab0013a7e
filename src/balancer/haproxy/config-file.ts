import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileWriteError } from '../../lib/atomic-write.js';
import { LighthouseError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { Quiescence } from '../../lib/quiescence.js';
import type { HaproxyCounters } from './runtime-channel.js';
import type { HaproxyPaths } from './paths.js';
import type { CheckResult, HaproxyProcess } from './process.js';
import type { RenderedConfig } from './render.js';
import { quoteRejectionLines } from './rejection-lines.js';

export interface ConfigFileOptions {
  paths: HaproxyPaths;
  /** runs `haproxy -c` */
  process: Pick<HaproxyProcess, 'check'>;
  counters: HaproxyCounters;
  logger: Logger;
  /** the balancer's config file, for messages */
  balancerFile?: string;
  /** a background write waits until changes pause this long... */
  quietMs: number;
  /** ...or at most this long after the first unwritten change */
  maxDelayMs: number;
}

/** `haproxy -c` refused a render: `culprits` are the owners of the lines it complained about (`cluster "web"`, ...). */
export class ConfigRejectedError extends LighthouseError {
  constructor(
    message: string,
    file: string,
    readonly culprits: readonly string[],
  ) {
    super('LH_HAPROXY_INVALID', message, { file });
  }
}

/**
 * HAProxy's config_file and every write to it: a candidate beside it,
 * checked with `haproxy -c` (see writeMembership for the one exception),
 * renamed into place. After a membership-only change the runtime API has
 * already applied it, so the file follows in the background, coalesced;
 * anything about to load the file first calls ensure().
 */
export class ConfigFile {
  /** the text config_file has now (read at adoption, then each write), to avoid pointless rewrites */
  private current: string | undefined;
  /** skeleton of the last file `haproxy -c` passed */
  private validatedSkeleton: string | undefined;
  /** the last background write failed (logged once per change between failing and writing again) */
  private backgroundFailing = false;
  /** a membership-only render not yet written (the newest wins) */
  private pending: RenderedConfig | undefined;
  /** the running worker accepted every server line of `pending` (see writeMembership) */
  private pendingAccepted = false;
  /** the background writer, while it runs */
  private writing: Promise<void> | undefined;
  /**
   * The writer runs. Not `writing !== undefined`: a writer that finds nothing
   * to write ends before its promise is stored, and a stored settled promise
   * would stop every later write.
   */
  private writerRunning = false;
  /** the coalescing delay came due while the writer was busy: it writes once more */
  private dueAgain = false;
  /**
   * Folds in what follows (bursts, churn): the write is due once changes
   * paused for quietMs, or maxDelayMs after the first unwritten one.
   * settle() cuts it short.
   */
  private readonly writeDue: Quiescence;

  constructor(private readonly options: ConfigFileOptions) {
    this.writeDue = new Quiescence(() => this.startWriter(), options.quietMs, options.maxDelayMs);
  }

  /** Reads what config_file holds now (a writer adopting a running HAProxy). */
  async load(): Promise<void> {
    this.current = await readFile(this.options.paths.config, 'utf8').catch(() => undefined);
  }

  /** config_file holds exactly `text`. */
  holds(text: string): boolean {
    return text === this.current;
  }

  /**
   * Queues a background write of `rendered`; a newer render replaces one still
   * waiting. `accepted`: the worker now runs exactly these servers (every
   * runtime op of this sync succeeded).
   */
  defer(rendered: RenderedConfig, accepted: boolean): void {
    this.pending = rendered;
    this.pendingAccepted = accepted;
    this.writeDue.trigger();
  }

  /** Waits for the background writer (it uses the candidate file too), without its coalescing delay. */
  async settle(): Promise<void> {
    while (this.writerRunning || this.writeDue.pending) {
      this.writeDue.flush();
      await this.writing;
    }
  }

  /** Before HAProxy (re)loads the file: it must hold `wanted`, never an older state. */
  async ensure(wanted: RenderedConfig | undefined): Promise<void> {
    await this.settle();
    this.pending = undefined;
    if (wanted && !this.holds(wanted.text)) await this.writeValidated(wanted);
  }

  /** Writes the candidate beside config_file, lets HAProxy check it, then renames it into place. */
  async writeValidated(rendered: RenderedConfig): Promise<void> {
    const { paths, counters } = this.options;
    await this.writeCandidate(rendered.text);
    const result = await this.options.process.check(paths.candidate);
    if (!result.ok && result.missingBinary) {
      await unlink(paths.candidate).catch(() => undefined);
      throw new LighthouseError('LH_HAPROXY_START', result.message, { file: this.options.balancerFile, setting: 'haproxy_binary' });
    }
    if (!result.ok) {
      await unlink(paths.candidate).catch(() => undefined);
      counters.rejectedConfigs += 1;
      throw new ConfigRejectedError(`${explainRejection(result, rendered)}; the running HAProxy keeps its configuration`, paths.config, blame(result.lines, rendered));
    }
    for (const warning of result.warnings) this.options.logger.debug({ warning }, 'haproxy -c warning');
    await this.installCandidate();
    this.current = rendered.text;
    this.validatedSkeleton = rendered.skeleton;
  }

  private startWriter(): void {
    if (this.writerRunning) this.dueAgain = true;
    else this.writing = this.writeInBackground();
  }

  private async writeInBackground(): Promise<void> {
    this.writerRunning = true;
    try {
      do {
        this.dueAgain = false;
        const next = this.pending;
        const accepted = this.pendingAccepted;
        this.pending = undefined;
        if (!next || this.holds(next.text)) continue;
        try {
          if (accepted && next.skeleton === this.validatedSkeleton) await this.writeMembership(next);
          else await this.writeValidated(next);
          this.options.counters.backgroundWrites += 1;
          if (this.backgroundFailing) this.options.logger.info({ file: this.options.paths.config }, `${this.options.paths.config}: the HAProxy config is written again after runtime changes`);
          this.backgroundFailing = false;
        } catch (error) {
          // The worker runs this state already; the file stays at the last valid
          // one, and a reload or restart tries the write again first (and fails
          // rather than load a stale file). Under churn this fails on every
          // change: logged when it starts failing, then at debug level.
          const message = `cannot write the HAProxy config after a runtime change: ${errorMessage(error)}`;
          if (this.backgroundFailing) this.options.logger.debug({ err: error }, message);
          else this.options.logger.error({ err: error, file: this.options.paths.config }, message);
          this.backgroundFailing = true;
        }
      } while (this.dueAgain);
    } finally {
      // No await between the loop's last check and here: a write coming due
      // with the end of the loop either was seen by the loop or starts a new writer.
      this.writerRunning = false;
    }
  }

  /**
   * The candidate beside config_file, on disk (fsynced) before anything renames
   * it into place. A failed write (disk full, read-only) leaves no candidate
   * behind, and its error names the file.
   */
  private async writeCandidate(text: string): Promise<void> {
    const { candidate } = this.options.paths;
    let created = false;
    try {
      await mkdir(dirname(this.options.paths.config), { recursive: true });
      const handle = await open(candidate, 'w', 0o644);
      created = true;
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (created) await unlink(candidate).catch(() => undefined);
      throw fileWriteError(candidate, error);
    }
  }

  private async installCandidate(): Promise<void> {
    const { candidate, config } = this.options.paths;
    try {
      await rename(candidate, config);
    } catch (error) {
      await unlink(candidate).catch(() => undefined);
      throw fileWriteError(config, error);
    }
  }

  /**
   * Writes a membership-only render without `haproxy -c`. Safe because it is
   * a file HAProxy already accepted in two parts: everything but the server
   * lines is the skeleton of the last validated file, and every server line is
   * one the running worker took through `add server` (or loaded). Checking it
   * again cost a fork of the writer (6-11 ms with the event loop blocked) and
   * 35-60 ms of CPU per 1,000 servers every few seconds under churn, which
   * showed in the convergence tail.
   */
  private async writeMembership(rendered: RenderedConfig): Promise<void> {
    await this.writeCandidate(rendered.text);
    await this.installCandidate();
    this.current = rendered.text;
    this.options.counters.membershipWrites += 1;
  }
}

/** What produced the lines HAProxy complains about (`[file:LINE]` in its messages). */
export function blame(lines: readonly string[], rendered: RenderedConfig): string[] {
  const owners: string[] = [];
  for (const line of lines) {
    for (const match of line.matchAll(/\[[^\]\s]*:(\d+)\]/g)) {
      const owner = rendered.owners[Number(match[1]) - 1];
      if (owner && !owners.includes(owner)) owners.push(owner);
    }
  }
  return owners;
}

export function explainRejection(result: CheckResult, rendered: RenderedConfig): string {
  if (result.ok) return 'valid';
  const culprits = blame(result.lines, rendered);
  const where = culprits.length > 0 ? ` (from ${culprits.join(', ')})` : '';
  const quoted = result.lines.length > 0 ? quoteRejectionLines(result.lines, rendered).join('; ') : result.message;
  return `HAProxy rejects the generated configuration${where}: ${quoted}`;
}
