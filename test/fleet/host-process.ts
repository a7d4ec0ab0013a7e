import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { FleetHost } from './netns.js';

/**
 * A process on a fleet host: `ip netns exec NS unshare -u sh -c 'hostname H;
 * exec CMD'`. `ip netns exec`, `unshare` (without --fork) and `exec` all
 * replace themselves, so the PID recorded here is the daemon's own; it runs in
 * its own process group and is stopped by PID. It lives in the root PID
 * namespace like any other process; only its network and host name differ.
 */

const started = new Set<HostProcess>();
process.on('exit', () => {
  for (const proc of started) proc.kill('SIGKILL');
});

export interface SpawnOptions {
  /** append stdout and stderr to this file; default: piped (read `onLine`) */
  logFile?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onLine?: (line: string) => void;
}

export class HostProcess {
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;

  private constructor(
    readonly host: FleetHost,
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    started.add(this);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        started.delete(this);
        resolve();
      });
    });
  }

  static start(host: FleetHost, label: string, command: string, args: readonly string[], options: SpawnOptions = {}): HostProcess {
    const log = options.logFile ? openSync(options.logFile, 'a') : undefined;
    const child = spawn('ip', ['netns', 'exec', host.ns, 'unshare', '-u', 'sh', '-c', 'hostname "$0" && exec "$@"', host.name, command, ...args], {
      stdio: ['ignore', log ?? 'pipe', log ?? 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: true,
    });
    if (log !== undefined) closeSync(log);
    if (!child.pid) throw new Error(`could not start ${label} on ${host.name}`);
    const proc = new HostProcess(host, label, child);
    if (!options.logFile) {
      // One reader per stream: a shared buffer would splice a partial stdout line with stderr.
      for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => options.onLine?.(line));
    }
    return proc;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Signals the process (not its group: a writer's HAProxy is meant to outlive it). */
  kill(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGCONT, `signal` (default SIGTERM), SIGKILL after `graceMs`; resolves once it has exited. Safe to call twice. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 8_000): Promise<void> {
    if (!this.alive) return;
    this.kill('SIGCONT');
    this.kill(signal);
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
