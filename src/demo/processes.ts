import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/**
 * Child processes the demo starts. Each is tracked by PID and stopped by PID
 * (never by name: other Lighthouse or HAProxy processes on the machine are
 * none of the demo's business), and an exit hook kills any that a crash
 * left behind.
 */

const running = new Set<ManagedChild>();
process.on('exit', () => {
  for (const child of running) child.killNow();
});

export interface ChildSpec {
  /** short name for messages, e.g. `redis-1` */
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  /** stdout and stderr are appended here */
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

export class ManagedChild {
  private exitInfo: string | undefined;
  private readonly exited: Promise<void>;
  /** called once if the process exits without stop() having been asked */
  onUnexpectedExit: ((info: string) => void) | undefined;
  private stopping = false;

  private constructor(
    readonly spec: ChildSpec,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = signal ? `killed by ${signal}` : `exit code ${code ?? '?'}`;
        running.delete(this);
        if (!this.stopping) this.onUnexpectedExit?.(this.exitInfo);
        resolve();
      });
      // A binary that cannot be started (ENOENT) emits 'error' and no 'exit'.
      child.once('error', (error) => {
        this.exitInfo = `could not start: ${error.message}`;
        running.delete(this);
        resolve();
      });
    });
  }

  static start(spec: ChildSpec): ManagedChild {
    const log = openSync(spec.logFile, 'a');
    try {
      const child = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', log, log] });
      const managed = new ManagedChild(spec, child);
      running.add(managed);
      return managed;
    } finally {
      closeSync(log);
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** why it exited, or undefined while it runs */
  get exit(): string | undefined {
    return this.exitInfo;
  }

  /** SIGTERM, then SIGKILL after `graceMs` if it has not exited. */
  async stop(graceMs = 8_000): Promise<void> {
    this.stopping = true;
    if (this.exitInfo !== undefined) return;
    signalPid(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalPid(this.child.pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills without grace (the demo's "an instance crashed" scene, and the exit hook). */
  killNow(): void {
    signalPid(this.child.pid, 'SIGKILL');
  }

  waitExit(): Promise<void> {
    return this.exited;
  }
}

export function signalPid(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

