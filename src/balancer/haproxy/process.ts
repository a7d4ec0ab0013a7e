import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open, readFile, stat, truncate } from 'node:fs/promises';
import { basename } from 'node:path';
import { LighthouseError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { sleep } from '../../lib/deadline.js';
import type { HaproxyPaths } from './paths.js';
import { masterSocket, parseShowProc, type ShowProc } from './runtime-api.js';

export interface ProcessOptions {
  binary: string;
  paths: HaproxyPaths;
  logger: Logger;
  /** how long a start or a reload may take before it counts as failed */
  startTimeoutMs?: number;
  /** deadline of `haproxy -c` */
  checkTimeoutMs?: number;
  /** told when a process we spawned exits, so a dead master is noticed at once rather than at the next liveness check */
  onExit?(pid: number): void;
}

export type CheckResult = { ok: true; warnings: string[] } | { ok: false; message: string; lines: string[]; missingBinary?: boolean };

/** What runs now, as far as the pid file and the master CLI tell. */
export type Running = { kind: 'master'; pid: number; proc: ShowProc } | { kind: 'classic'; pid: number } | { kind: 'none' };

/** The stderr log is truncated at a (re)start once it is larger than this. */
const MAX_STDERR_LOG = 1024 * 1024;

/**
 * Starts, adopts, reloads and watches one HAProxy. Master-worker mode
 * (`-W -S <master socket>`) for the runtime strategy: reloads are seamless
 * (listening sockets handed over) and confirmed with `show proc`. Classic
 * daemon mode (`-D ... -sf <old pid>`) for the original's strategy.
 *
 * HAProxy is spawned detached with its stderr appended to a log file beside
 * the config, so it keeps serving when the writer exits and a failed reload
 * (reported by the re-executed master on that stderr) can be reported in
 * HAProxy's own words.
 */
export class HaproxyProcess {
  private readonly startTimeoutMs: number;
  private readonly checkTimeoutMs: number;
  /** the master we spawned ourselves: its exit is noticed at once, not at the next liveness check */
  private child: { pid: number; exited: boolean } | undefined;

  constructor(private readonly options: ProcessOptions) {
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.checkTimeoutMs = options.checkTimeoutMs ?? 60_000;
  }

  private get paths(): HaproxyPaths {
    return this.options.paths;
  }

  /** `haproxy -c -f <file>`: HAProxy's own verdict on a config, with its messages. */
  check(file: string): Promise<CheckResult> {
    return new Promise((resolve) => {
      execFile(this.options.binary, ['-c', '-f', file], { timeout: this.checkTimeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        const lines = `${stdout}\n${stderr}`.split('\n').map((line) => line.trim()).filter(Boolean);
        const warnings = lines.filter((line) => line.startsWith('[WARNING]'));
        if (!error) {
          resolve({ ok: true, warnings });
          return;
        }
        const code = (error as NodeJS.ErrnoException & { code?: unknown }).code;
        if (code === 'ENOENT') {
          resolve({ ok: false, message: `the HAProxy binary "${this.options.binary}" was not found`, lines: [], missingBinary: true });
          return;
        }
        const alerts = lines.filter((line) => line.startsWith('[ALERT]'));
        const shown = (alerts.length > 0 ? alerts : lines.filter((line) => !line.startsWith('[NOTICE]'))).map(stripPrefix);
        resolve({ ok: false, message: shown.join('; ') || `haproxy -c failed (${error.message})`, lines: shown });
      });
    });
  }

  /** Pid from the pid file if that process is an HAProxy that is alive. */
  async runningPid(): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(this.paths.pid, 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number(text.trim().split(/\s+/)[0]);
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    return (await this.isAlive(pid)) ? pid : undefined;
  }

  /**
   * Whether `pid` is a live HAProxy: checked through /proc so that a zombie
   * (dead, not yet reaped) or a recycled pid running something else counts as dead.
   */
  async isAlive(pid: number): Promise<boolean> {
    if (this.child?.pid === pid && this.child.exited) return false;
    try {
      const statText = await readFile(`/proc/${pid}/stat`, 'utf8');
      const state = statText.slice(statText.lastIndexOf(')') + 2, statText.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') return false;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      // A master re-executing itself for a reload shows an empty command line
      // for a moment (seen under load): the pid is alive, and still HAProxy.
      if (cmdline === '') return true;
      return cmdline.split('\0').some((arg) => basename(arg) === basename(this.options.binary) || basename(arg) === 'haproxy');
    } catch {
      return false;
    }
  }

  /** What is running: a master-worker HAProxy answering on the master socket, a classic one, or nothing. */
  async running(): Promise<Running> {
    const pid = await this.runningPid();
    if (pid === undefined) return { kind: 'none' };
    const proc = await this.showProc(2_000).catch(() => undefined);
    if (proc && proc.master.pid === pid) return { kind: 'master', pid, proc };
    return { kind: 'classic', pid };
  }

  async showProc(timeoutMs = 5_000): Promise<ShowProc> {
    const cli = masterSocket(this.paths.masterSocket, { timeoutMs });
    try {
      const text = await cli.command('show proc', timeoutMs);
      const proc = parseShowProc(text);
      if (!proc) throw new LighthouseError('LH_HAPROXY_RUNTIME', `unexpected answer to "show proc" on ${this.paths.masterSocket}: ${text.slice(0, 200)}`);
      return proc;
    } finally {
      cli.close();
    }
  }

  /**
   * Starts a master-worker HAProxy and waits until its first worker runs.
   * `takeOver` is a classic HAProxy still serving: the new one takes its
   * listening sockets (-x) and tells it to finish (-sf).
   */
  async startMaster(takeOver?: number): Promise<ShowProc> {
    const args = ['-W', '-S', `${this.paths.masterSocket},mode,600`, '-f', this.paths.config, '-p', this.paths.pid];
    if (takeOver !== undefined) args.push('-x', this.paths.adminSocket, '-sf', String(takeOver));
    const offset = await this.prepareStderrLog();
    const child = this.spawnDetached(args);
    const deadline = performance.now() + this.startTimeoutMs;
    while (performance.now() < deadline) {
      if (child.exited) throw await this.failure('HAProxy did not start', offset, `exit code ${child.code ?? child.signal}`);
      const proc = await this.showProc(1_000).catch(() => undefined);
      if (proc && proc.master.pid === child.pid && proc.workers.length > 0) return proc;
      await sleep(20);
    }
    // Never leave a half-started master behind: the next attempt would start a second one.
    if (!child.exited) process.kill(child.pid, 'SIGKILL');
    throw await this.failure('HAProxy did not start', offset, `no worker after ${this.startTimeoutMs} ms`);
  }

  /**
   * A seamless master-worker reload: `reload` on the master CLI (SIGUSR2 if
   * the CLI is unreachable). In 2.6 the reload is asynchronous, so it is
   * confirmed with `show proc`: the master's reload counter moves on and its
   * failure counter is 0. On failure the old worker keeps serving.
   */
  async reloadMaster(masterPid: number): Promise<ShowProc> {
    const before = await this.showProc(5_000).catch(() => undefined);
    const offset = await this.stderrLogSize();
    const cli = masterSocket(this.paths.masterSocket, { timeoutMs: 5_000 });
    let sent = false;
    try {
      // The master closes the connection when it re-executes: that is the expected answer.
      await cli.command('reload').then(
        () => (sent = true),
        (error: unknown) => {
          if (error instanceof LighthouseError && /closed/.test(error.message)) sent = true;
        },
      );
    } finally {
      cli.close();
    }
    if (!sent || !before) process.kill(masterPid, 'SIGUSR2');
    const deadline = performance.now() + this.startTimeoutMs;
    while (performance.now() < deadline) {
      if (!(await this.isAlive(masterPid))) throw await this.failure('HAProxy died during a reload', offset, 'master process is gone');
      const proc = await this.showProc(1_000).catch(() => undefined);
      if (proc && (!before || proc.master.reloads > before.master.reloads)) {
        if (proc.master.failed > 0) throw await this.failure('HAProxy rejected the reload; the previous configuration keeps serving', offset, 'reload failed');
        if (proc.workers.length > 0) return proc;
      }
      await sleep(25);
    }
    throw await this.failure('HAProxy reload was not confirmed', offset, `no new worker after ${this.startTimeoutMs} ms`);
  }

  /** The original's reload: a new daemon that binds the ports and tells the old one to finish (-sf). */
  async startClassic(oldPid?: number): Promise<number> {
    const args = ['-D', '-f', this.paths.config, '-p', this.paths.pid];
    if (oldPid !== undefined) args.push('-sf', String(oldPid));
    const offset = await this.prepareStderrLog();
    const child = this.spawnDetached(args);
    const deadline = performance.now() + this.startTimeoutMs;
    while (!child.exited && performance.now() < deadline) await sleep(10);
    if (!child.exited || child.code !== 0) {
      throw await this.failure(oldPid === undefined ? 'HAProxy did not start' : 'HAProxy reload (-sf) failed; the previous process keeps serving', offset, `exit code ${child.code ?? child.signal ?? 'none yet'}`);
    }
    const pid = await this.runningPid();
    if (pid === undefined) throw await this.failure('HAProxy did not start', offset, 'no live process in the pid file');
    return pid;
  }

  private spawnDetached(args: string[]): { pid: number; exited: boolean; code: number | null; signal: NodeJS.Signals | null } {
    const log = openSync(this.paths.stderrLog, 'a', 0o640);
    try {
      const child = spawn(this.options.binary, args, { detached: true, stdio: ['ignore', log, log] });
      const state = { pid: child.pid ?? -1, exited: false, code: null as number | null, signal: null as NodeJS.Signals | null };
      const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
        state.exited = true;
        state.code = code;
        state.signal = signal;
        if (this.child?.pid === state.pid) this.child.exited = true;
        this.options.onExit?.(state.pid);
      };
      child.once('exit', exited);
      child.once('error', (error) => {
        this.options.logger.error({ err: error }, `cannot run ${this.options.binary}`);
        exited(127, null);
      });
      child.unref();
      this.child = { pid: state.pid, exited: false };
      this.options.logger.debug({ args }, 'spawned haproxy');
      return state;
    } finally {
      closeSync(log);
    }
  }

  private async stderrLogSize(): Promise<number> {
    try {
      return (await stat(this.paths.stderrLog)).size;
    } catch {
      return 0;
    }
  }

  private async prepareStderrLog(): Promise<number> {
    const size = await this.stderrLogSize();
    if (size <= MAX_STDERR_LOG) return size;
    // Safe while HAProxy writes to it: its descriptor is in append mode.
    await truncate(this.paths.stderrLog, 0).catch(() => undefined);
    return 0;
  }

  /** An error carrying what HAProxy wrote on stderr since `offset` (its ALERT lines, or its last lines). */
  private async failure(what: string, offset: number, fallback: string): Promise<LighthouseError> {
    // HAProxy may still be writing its last lines when we notice the failure.
    await sleep(20);
    let text = '';
    try {
      const handle = await open(this.paths.stderrLog, 'r');
      try {
        const { size } = await handle.stat();
        const length = Math.max(0, Math.min(size - offset, 64 * 1024));
        const buffer = Buffer.alloc(length);
        await handle.read(buffer, 0, length, size - length);
        text = buffer.toString('utf8');
      } finally {
        await handle.close();
      }
    } catch {
      text = '';
    }
    const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
    const alerts = lines.filter((line) => line.startsWith('[ALERT]')).map(stripPrefix);
    const detail = alerts.length > 0 ? alerts.join('; ') : lines.slice(-5).map(stripPrefix).join('; ') || fallback;
    return new LighthouseError('LH_HAPROXY_START', `${what}: ${detail}`, { file: this.paths.config });
  }
}

/** `[ALERT]    (1234) : config : parsing [x.cfg:9] : msg` -> `parsing [x.cfg:9] : msg` */
function stripPrefix(line: string): string {
  return line.replace(/^\[(ALERT|WARNING|NOTICE)\]\s*\(\d+\)\s*:\s*/, '').replace(/^config\s*:\s*/, '');
}
