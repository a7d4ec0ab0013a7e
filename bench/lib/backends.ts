import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnTracked } from './procs.js';

const SERVER = fileURLToPath(new URL('../backend-server.ts', import.meta.url));

export interface BackendGroup {
  /** one process serving all of `ports` */
  child: ChildProcess;
  ports: number[];
  /** ids answer `<prefix><index>` */
  prefix: string;
}

/** Starts `count` HTTP backends in one child process. */
export async function startBackends(count: number, prefix: string): Promise<BackendGroup> {
  const child = spawnTracked(process.execPath, ['--import', 'tsx', SERVER, String(count), prefix], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const ports = await new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`backends ${prefix}: no ports after 30 s`)), 30_000);
    child.once('exit', (code) => reject(new Error(`backends ${prefix} exited (${code})`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { ports: number[] }).ports);
    });
  });
  return { child, ports, prefix };
}
