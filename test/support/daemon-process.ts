import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) if (child.pid && child.exitCode === null) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
});

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  /** resolves with the exit code once the process has exited */
  exited: Promise<number | null>;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs` */
  stop(graceMs?: number): Promise<number | null>;
}

/** Runs `lighthouse <command> <configDir>` as a real child process (through tsx, so no build is needed). */
export function startDaemon(command: 'writer' | 'reporter', configDir: string, logFile: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, command, configDir, ...extraArgs], { stdio: ['ignore', log, log], env: { ...process.env, LIGHTHOUSE_TEST: '1', ...env } });
  closeSync(log);
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    running.delete(child);
    resolve(code);
  }));
  const signal = (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
  };
  return {
    child,
    pid: child.pid!,
    exited,
    signal,
    async stop(graceMs = 5_000) {
      signal('SIGCONT');
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
