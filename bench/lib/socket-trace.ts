/**
 * A preload for a measured daemon (`BENCH_NODE_ARGS="--import tsx --import
 * <this file>"`, TRACE_FILE=<path>): stamps every socket read and write and
 * every JSON log line on process.hrtime, the monotonic clock every process
 * of the machine shares, and writes them to TRACE_FILE when the process
 * exits. bench/convergence-trace.ts lines them up with the bench's own
 * stamps. Measurement only: it wraps net.Socket and process.stdout.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';

export interface TraceEvent {
  /** ms on process.hrtime */
  t: number;
  /** w: written, r: read, log: a log line */
  dir: 'w' | 'r' | 'log';
  /** `tcp:<remote port>` or `unix` */
  peer?: string;
  len?: number;
  /** ZooKeeper frames: the xid (-1: a watch event) */
  xid?: number;
  /** the start of the bytes as text, or the log line's msg */
  text?: string;
}

const file = process.env.TRACE_FILE;
const events: TraceEvent[] = [];
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function peer(socket: net.Socket): string {
  return socket.remotePort ? `tcp:${socket.remotePort}` : 'unix';
}

function describe(chunk: unknown): Pick<TraceEvent, 'len' | 'xid' | 'text'> {
  if (typeof chunk === 'string') return { len: chunk.length, text: chunk.slice(0, 120) };
  if (!Buffer.isBuffer(chunk)) return {};
  return { len: chunk.length, xid: chunk.length >= 8 ? chunk.readInt32BE(4) : undefined, text: chunk.subarray(0, 80).toString('latin1').replace(/[^\x20-\x7e]/g, '.') };
}

if (file) {
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]): boolean {
    events.push({ t: now(), dir: 'w', peer: peer(this), ...describe(chunk) });
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;
  const emit = net.Socket.prototype.emit;
  net.Socket.prototype.emit = function (this: net.Socket, name: string | symbol, ...args: unknown[]): boolean {
    if (name === 'data') events.push({ t: now(), dir: 'r', peer: peer(this), ...describe(args[0]) });
    return (emit as (...all: unknown[]) => boolean).call(this, name, ...args);
  } as typeof emit;
  const out = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    const t = now();
    for (const line of String(chunk).split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        events.push({ t, dir: 'log', text: String((JSON.parse(line) as { msg?: unknown }).msg) });
      } catch {
        // not one of ours
      }
    }
    return (out as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.on('exit', () => writeFileSync(file, JSON.stringify(events)));
}
