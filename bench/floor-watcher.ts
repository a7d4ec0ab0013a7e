/**
 * The paired convergence floor's watcher (bench/scenarios/convergence.ts): a
 * bare ZooKeeper client, no Lighthouse code, in a process of its own so the
 * benchmark's probe loop cannot delay its events. Usage: floor-watcher.ts
 * <connect string> <folder>. Each `arm` line on stdin sets a children watch
 * on the folder and answers `armed` once the server did; each watch event
 * prints `fired <ms>` (ms on the shared clock: performance.timeOrigin + now;
 * with FLOOR_CLOCK=hrtime, on process.hrtime, the clock bench/convergence-trace.ts uses).
 */
import { createInterface } from 'node:readline';
import { connectClient } from '../test/support/zookeeper.js';

const [connectString, folder] = process.argv.slice(2) as [string, string];
const client = await connectClient(connectString);
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const stamp = process.env.FLOOR_CLOCK === 'hrtime' ? (): number => Number(process.hrtime.bigint()) / 1e6 : (): number => performance.timeOrigin + performance.now();
say('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'arm') continue;
  await client.getChildren(folder, () => say(`fired ${stamp()}`));
  say('armed');
}
await client.close().catch(() => undefined);
