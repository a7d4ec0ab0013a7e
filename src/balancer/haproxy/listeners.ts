import { createServer } from 'node:net';
import { tcpAddresses } from './listen-addresses.js';

/** One `host:port` a config's `bind` lines listen on, with the line it came from. */
export interface BindTarget {
  /** as written: `127.0.0.1:8000`, `:8000`, `[::1]:8000` */
  address: string;
  host: string;
  port: number;
  /** 0-based line index in the config text */
  line: number;
}

/**
 * The single-port TCP addresses of every `bind` line. Ranges, unix sockets
 * and abstract namespaces are left out: they are not what collides with
 * another program's listener.
 */
export function bindTargets(text: string): BindTarget[] {
  const targets: BindTarget[] = [];
  text.split('\n').forEach((raw, line) => {
    const match = /^\s*bind\s+(\S+)/.exec(raw);
    if (!match) return;
    for (const address of tcpAddresses(match[1]!)) {
      if (address.low !== address.high) continue;
      targets.push({ address: address.text, host: address.written === '' || address.written === '*' ? '0.0.0.0' : address.written, port: address.low, line });
    }
  });
  return targets;
}

/**
 * The targets another program already listens on. Checked by binding them
 * for a moment: only EADDRINUSE counts (an address that is not local, or a
 * privileged port, is for HAProxy to judge). Call it only for addresses the
 * running HAProxy does not hold itself, since those are in use too.
 */
export async function busyTargets(targets: readonly BindTarget[]): Promise<BindTarget[]> {
  const results = await Promise.all(targets.map(async (target) => ((await inUse(target.host, target.port)) ? target : undefined)));
  return results.filter((target): target is BindTarget => target !== undefined);
}

function inUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}
