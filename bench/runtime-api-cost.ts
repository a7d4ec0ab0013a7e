/**
 * What HAProxy itself takes for the runtime commands the writer sends, on a
 * backend of 1,001 servers against one of 2, in one HAProxy 2.x started
 * here (no writer, no probe): each command timed on one prompt-mode
 * connection, the two backends interleaved, and `add server` + `enable
 * server` (and `disable` + `del`) also sent in one write. Prints p50 / p90
 * in ms per command and backend size (docs/benchmarks.md, "Where the
 * convergence time goes"). Not part of `npm run bench`.
 *
 *   node --import tsx bench/runtime-api-cost.ts [reps=100] [servers=1000]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminSocket } from '../src/balancer/haproxy/runtime-api.js';
import { freePorts } from '../test/support/ports.js';
import { waitFor } from '../test/support/wait-for.js';
import { summary } from './lib/stats.js';

const reps = Number(process.argv[2] ?? 100);
const size = Number(process.argv[3] ?? 1000);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lighthouse-runtime-cost-'));
  const socketPath = join(dir, 'admin.sock');
  const [bigPort, smallPort] = (await freePorts(2)) as [number, number];
  const servers = (prefix: string, count: number): string => Array.from({ length: count }, (_, index) => `    server ${prefix}${index}:9 127.0.0.1:${10_000 + (index % 50_000)}`).join('\n');
  await writeFile(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      `    stats socket ${socketPath} mode 600 level admin`,
      'defaults',
      '    mode http',
      '    timeout connect 5s',
      '    timeout client 1m',
      '    timeout server 1m',
      `frontend big\n    bind 127.0.0.1:${bigPort}\n    default_backend big`,
      `frontend small\n    bind 127.0.0.1:${smallPort}\n    default_backend small`,
      `backend big\n${servers('b', size + 1)}`,
      `backend small\n${servers('s', 2)}`,
      '',
    ].join('\n'),
  );
  const haproxy = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  const cli = adminSocket(socketPath, { timeoutMs: 10_000 });
  try {
    await waitFor(() => existsSync(socketPath), 'HAProxy to open its socket', 10_000);
    const times = new Map<string, number[]>();
    const record = (key: string, ms: number): void => void times.set(key, [...(times.get(key) ?? []), ms]);
    const timed = async (key: string, command: string, ok: RegExp): Promise<void> => {
      const started = now();
      const output = await cli.command(command);
      record(key, now() - started);
      if (!ok.test(output)) throw new Error(`"${command}" answered: ${output}`);
    };
    // Several commands in one write, on a connection of its own: resolves once every answer's prompt came.
    const socket = connect(socketPath);
    socket.setEncoding('utf8');
    let buffer = '';
    let expected = 0;
    let whenDone: (() => void) | undefined;
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (whenDone && buffer.split('\n> ').length - 1 >= expected) {
        const done = whenDone;
        whenDone = undefined;
        done();
      }
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const together = (commands: string[]): Promise<void> =>
      new Promise((resolve) => {
        buffer = '';
        expected = commands.length;
        whenDone = resolve;
        socket.write(commands.map((command) => `${command}\n`).join(''));
      });
    socket.write('prompt\n');
    await waitFor(() => buffer.includes('> '), 'the prompt', 5_000);
    for (let index = 0; index < reps; index += 1) {
      for (const backend of index % 2 === 0 ? ['big', 'small'] : ['small', 'big']) {
        const name = `${backend}/p${index}:9`;
        await timed(`${backend} add server`, `add server ${name} 127.0.0.1:9999`, /New server/);
        await timed(`${backend} enable server`, `enable server ${name}`, /^$/);
        await timed(`${backend} set server weight`, `set server ${name} weight 2`, /^$/);
        await timed(`${backend} disable server`, `disable server ${name}`, /^$/);
        await timed(`${backend} del server`, `del server ${name}`, /deleted/);
        await timed(`${backend} show servers state <backend>`, `show servers state ${backend}`, /./);
        const other = `${backend}/q${index}:9`;
        let started = now();
        await together([`add server ${other} 127.0.0.1:9999`, `enable server ${other}`]);
        record(`${backend} add + enable in one write`, now() - started);
        started = now();
        await together([`disable server ${other}`, `del server ${other}`]);
        record(`${backend} disable + del in one write`, now() - started);
      }
    }
    socket.destroy();
    for (const key of [...times.keys()].sort()) {
      const s = summary(times.get(key)!);
      process.stdout.write(`${key.padEnd(40)} p50 ${s.p50.toFixed(2)}  p90 ${s.p90.toFixed(2)} ms\n`);
    }
  } finally {
    cli.close();
    haproxy.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
