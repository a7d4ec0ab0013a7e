/**
 * The floor under the reporter's check cost: the same HTTP exchanges on new
 * connections (connect, one request, read the status line, close), once per
 * second per port, with nothing else around them: no rise/fall, timeouts,
 * registrations or metrics. Runs in its own process so its CPU can be
 * measured alone. Usage: socket-floor.ts [--spread] <seconds> <port>...;
 * prints `{"exchanges":N,"failed":N}` when done. By default every loop
 * starts at once, so the exchanges come in one burst each second; with
 * `--spread` loop i starts i/N of a second in, so they are spread over the
 * second, and the kernel and event loop batch less. The reporter's checks
 * come in bursts (its main thread wakes ~100-200 times a second at 1,000
 * checks/s, like the burst floor; the spread floor ~200-950): the burst
 * floor is its like-for-like floor (docs/benchmarks.md).
 */
import { connect } from 'node:net';

const spread = process.argv[2] === '--spread';
const args = process.argv.slice(spread ? 3 : 2);
const seconds = Number(args[0] ?? '10');
const ports = args.slice(1).map(Number);
const request = Buffer.from('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
let exchanges = 0;
let failed = 0;
let running = true;

function exchange(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', (chunk: Buffer) => {
      if (chunk.toString('latin1', 9, 12) !== '200') failed += 1;
      exchanges += 1;
      socket.destroy();
      resolve();
    });
    socket.on('error', () => {
      failed += 1;
      resolve();
    });
    socket.write(request);
  });
}

function loop(port: number): void {
  if (!running) return;
  const started = performance.now();
  void exchange(port).then(() => setTimeout(() => loop(port), Math.max(0, 1000 - (performance.now() - started))));
}

ports.forEach((port, index) => {
  if (spread) setTimeout(() => loop(port), (index * 1000) / ports.length);
  else loop(port);
});
setTimeout(() => {
  running = false;
  process.stdout.write(`${JSON.stringify({ exchanges, failed })}\n`);
  process.exit(0);
}, seconds * 1000);
