/**
 * Real HTTP backends for the benchmark, in their own process so their CPU is
 * not the measuring process's and a test can SIGKILL them (abrupt death).
 * Usage: backend-server.ts <count> <id-prefix>. Listens on <count> ports of
 * 127.0.0.1 the OS picks, prints `{"ports":[...]}` on one line, answers every
 * request `200 <id>` with keep-alive, and exits when stdin closes (its parent
 * is gone), so it cannot outlive the benchmark.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const count = Number(process.argv[2] ?? '1');
const prefix = process.argv[3] ?? 'b';

async function main(): Promise<void> {
  const ports: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const id = `${prefix}${index}`;
    const body = Buffer.from(`${id}\n`);
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    ports.push((server.address() as AddressInfo).port);
  }
  process.stdout.write(`${JSON.stringify({ ports })}\n`);
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
main().catch((error: unknown) => {
  process.stderr.write(`backend-server: ${String(error)}\n`);
  process.exit(1);
});
