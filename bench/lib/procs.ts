import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pidsWith } from '../../test/support/processes.js';

/**
 * Every process the benchmark starts is tracked here and killed by pid on the
 * way out (normal end, failure, Ctrl-C). HAProxy daemonizes away from its
 * parent, so it is found by the temp directory in its command line instead.
 */
const children = new Set<ChildProcess>();
const scanRoots = new Set<string>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): node options for the processes the bench measures (daemons, fleet hosts). */
export function benchNodeArgs(): string[] {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return track(spawn(command, [...args], options));
}

/** Processes whose command line names `dir` (HAProxy started by a writer of ours) are killed at the end too. */
export function killAllUnder(dir: string): void {
  scanRoots.add(dir);
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
export async function stopChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function killProcessesUsing(path: string): Promise<void> {
  for (const pid of await pidsWith(path)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Kills everything still running that the benchmark started. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child, 1_000)));
  for (const dir of scanRoots) await killProcessesUsing(dir);
}

/**
 * Last resort on any exit (process.exit from a signal handler elsewhere, an
 * uncaught error): SIGKILL by pid, synchronously, including the HAProxy
 * processes found under the scenario folders.
 */
export function killAllNow(): void {
  for (const child of children) if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  if (scanRoots.size === 0) return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if ([...scanRoots].some((dir) => cmdline.includes(dir))) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // exited while we looked
    }
  }
}

export interface ProcSample {
  /** user + system CPU, seconds */
  cpuSeconds: number;
  /** the system (kernel) part of cpuSeconds */
  systemSeconds: number;
  /** user + system CPU of the main thread alone (JavaScript, and the GC pauses it takes); the rest is V8's GC helper threads and libuv's pool */
  mainThreadCpuSeconds: number;
  rssMb: number;
  /**
   * Times the main thread blocked and was woken (its voluntary context
   * switches): one per event-loop wait that found nothing to do yet, so it
   * counts how many separate bursts the process's work came in.
   */
  mainThreadWakeups: number;
}

const CLOCK_TICKS = 100;

/** CPU time and RSS of one process, from /proc. */
export async function sampleProcess(pid: number): Promise<ProcSample> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const systemSeconds = Number(fields[12]) / CLOCK_TICKS;
  const thread = await readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const threadFields = thread.slice(thread.lastIndexOf(')') + 2).split(' ');
  const mainThreadCpuSeconds = (Number(threadFields[11]) + Number(threadFields[12])) / CLOCK_TICKS;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const mainThread = await readFile(`/proc/${pid}/task/${pid}/status`, 'utf8');
  const mainThreadWakeups = Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(mainThread)?.[1] ?? 0);
  return { cpuSeconds, systemSeconds, mainThreadCpuSeconds, rssMb: rssKb / 1024, mainThreadWakeups };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns something other than undefined/false, or throws after `timeoutMs`. */
export async function waitUntil<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    await sleep(everyMs);
  }
}
