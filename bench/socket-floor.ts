/**
 * The floor under the reporter's check cost: the same HTTP exchanges on new
 * connections (connect, one request, read the status line, close), once per
 * second per port, with nothing else around them: no rise/fall, timeouts,
 * registrations or metrics. Runs in its own process so its CPU can be
 * measured alone. Usage: socket-floor.ts <seconds> <port>...; prints
 * `{"exchanges":N,"failed":N}` when done.
 */
import { connect } from 'node:net';

const seconds = Number(process.argv[2] ?? '10');
const ports = process.argv.slice(3).map(Number);
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

for (const port of ports) loop(port);
setTimeout(() => {
  running = false;
  process.stdout.write(`${JSON.stringify({ exchanges, failed })}\n`);
  process.exit(0);
}, seconds * 1000);
