import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './ports.js';
import { tempDir, type TempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

export interface RedisServer {
  port: number;
  pid: number;
  /** Kills the server by its PID and waits for it to exit; the temp dir goes with `stop`. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  password?: string;
}

/** Why the tests cannot run a real redis-server here, or undefined when they can. */
export function redisUnavailable(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `redis-server is not installed (${probe.error.message})`;
  if (probe.status !== 0) return `redis-server --version failed: ${probe.stderr.trim()}`;
  return undefined;
}

/**
 * Starts a throw-away redis-server on a free loopback port in its own temp
 * dir, with persistence off. A port taken between `freePort()` and the bind
 * (other tests run in parallel) makes redis exit; that is retried on a new port.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const dir = await tempDir('lighthouse-redis-');
    try {
      return await startOnce(dir, await freePort(), options);
    } catch (error) {
      lastError = error;
      await dir.remove();
    }
  }
  throw new Error(`could not start redis-server: ${(lastError as Error).message}`);
}

async function startOnce(dir: TempDir, port: number, options: RedisOptions): Promise<RedisServer> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir.path];
  if (options.password !== undefined) args.push('--requirepass', options.password);
  const child: ChildProcess = spawn('redis-server', args, { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited: number | string | null | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = code ?? signal;
      resolve();
    });
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const pid = child.pid;
  if (pid === undefined) throw new Error('redis-server did not start');

  const kill = async (): Promise<void> => {
    if (exited !== undefined) return;
    process.kill(pid, 'SIGKILL');
    await exit;
  };
  try {
    await waitFor(
      () => {
        if (exited !== undefined) throw new Error(`redis-server exited (${exited}): ${output.trim().split('\n').slice(-3).join(' | ')}`);
        return output.includes('Ready to accept connections');
      },
      `redis-server on port ${port} to accept connections`,
      10_000,
    );
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    port,
    pid,
    kill,
    async stop() {
      await kill();
      await dir.remove();
    },
  };
}
