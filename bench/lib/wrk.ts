import { spawnTracked } from './procs.js';

export interface WrkResult {
  requests: number;
  /** non-2xx/3xx responses */
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** non2xx + every socket error */
  errors: number;
  requestsPerSecond: number;
  latencyP99Ms: number | undefined;
  raw: string;
}

export interface WrkOptions {
  port: number;
  durationSeconds: number;
  connections: number;
  threads?: number;
  /** `Connection: close` on every request: a new connection per request */
  close?: boolean;
  path?: string;
}

/** Runs wrk against 127.0.0.1 for a bounded time (its own -d, plus a kill deadline) and parses its summary. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(options.threads ?? 1), '-c', String(options.connections), '-d', `${options.durationSeconds}s`, '--timeout', '5s', '--latency'];
  if (options.close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${options.port}${options.path ?? '/'}`);
  const child = spawnTracked('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const killer = setTimeout(() => child.kill('SIGKILL'), (options.durationSeconds + 15) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(killer);
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${out.trim()}`);
  return parseWrk(out);
}

export function parseWrk(out: string): WrkResult {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  if (!Number.isFinite(requests)) throw new Error(`cannot read wrk output: ${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = {
    connect: Number(socket?.[1] ?? 0),
    read: Number(socket?.[2] ?? 0),
    write: Number(socket?.[3] ?? 0),
    timeout: Number(socket?.[4] ?? 0),
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const scale = { us: 0.001, ms: 1, s: 1000 } as const;
  return {
    requests,
    non2xx,
    socketErrors,
    errors: non2xx + socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout,
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    latencyP99Ms: p99 ? Number(p99[1]) * scale[p99[2] as keyof typeof scale] : undefined,
    raw: out,
  };
}
