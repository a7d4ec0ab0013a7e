/**
 * Every TCP address the generated HAProxy config listens on, with who asked
 * for it. HAProxy binds with SO_REUSEPORT, so two sections on one address
 * both start and the kernel splits the connections between them: a clash
 * is never reported by HAProxy and must be caught here.
 */

/** One listened address: a port range on a host (`''` for every address). */
export interface Listener {
  /** who it belongs to, for messages: `cluster "web"`, `proxy "db"`, `the stats listener` */
  owner: string;
  /** the setting it comes from, as a path: `['haproxy', 'frontend', 0]`, `['stats', 'port']` */
  setting: (string | number)[];
  /** as an operator reads it: `haproxy.port 8080`, `haproxy.frontend.0 "bind 127.0.0.1:8080"` */
  source: string;
  host: string;
  low: number;
  high: number;
}

/** Addresses meaning "every address": they overlap every host on the same port. `::` also takes IPv4 on Linux. */
const ANY = new Set(['', '*', '0.0.0.0', '::']);

/** Address prefixes that are TCP; any other `xxx@` (unix@, abns@, fd@, sockpair@, udp@, quic4@, ...) is not. */
const TCP_PREFIX = /^(?:ipv4@|ipv6@|tcp@|tcp4@|tcp6@)/;

/** The TCP `[host]:port[-port]` addresses of one address list (`a:1,b:2`); others (unix sockets, fds, variables) are skipped. */
export interface TcpAddress {
  /** `''` for every address (`*`, `0.0.0.0`, `::`, empty) */
  host: string;
  /** the host as written, brackets removed */
  written: string;
  low: number;
  high: number;
  /** the address as written */
  text: string;
}

export function tcpAddresses(list: string): TcpAddress[] {
  const out: TcpAddress[] = [];
  for (const text of list.split(',')) {
    const address = text.replace(TCP_PREFIX, '');
    if (/^[a-z0-9]+@/i.test(address) || address.startsWith('/') || address.includes('$')) continue;
    const match = /^(.*):(\d{1,5})(?:-(\d{1,5}))?$/.exec(address);
    if (!match) continue;
    const written = match[1]!.replace(/^\[(.*)\]$/, '$1');
    const host = written.toLowerCase();
    const low = Number(match[2]);
    const high = match[3] === undefined ? low : Number(match[3]);
    out.push({ host: ANY.has(host) ? '' : host, written, low, high: Math.max(low, high), text });
  }
  return out;
}

/** The listeners of one directive line: `bind ADDRS ...`, or a global `stats socket ADDR ...` on TCP. */
export function lineListeners(line: string, owner: string, setting: (string | number)[]): Listener[] {
  const words = line.trim().split(/\s+/);
  const list = words[0] === 'bind' ? words[1] : words[0] === 'stats' && words[1] === 'socket' ? words[2] : undefined;
  if (list === undefined) return [];
  return tcpAddresses(list).map(({ host, low, high }) => ({ owner, setting, source: `${setting.join('.')} "${line.trim()}"`, host, low, high }));
}

/** A `port` setting rendered as `bind <address>:<port>`. */
export function portListener(address: string | undefined, port: number, owner: string, setting: (string | number)[]): Listener {
  const host = (address ?? '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return { owner, setting, source: `${setting.join('.')} ${port}`, host: ANY.has(host) ? '' : host, low: port, high: port };
}

export function overlaps(a: Listener, b: Listener): boolean {
  return a.low <= b.high && b.low <= a.high && (a.host === b.host || a.host === '' || b.host === '');
}

/** `host:port` (or the range) of a listener, for messages. */
export function describeAddress(listener: Listener): string {
  const ports = listener.low === listener.high ? `${listener.low}` : `${listener.low}-${listener.high}`;
  return `${listener.host === '' ? '*' : listener.host.includes(':') ? `[${listener.host}]` : listener.host}:${ports}`;
}

/** The parts of the balancer file that listen (structural, so schema.ts can call it before its type exists). */
export interface ListeningBalancer {
  global: readonly string[];
  bind_address?: string | undefined;
  meta_clusters: Readonly<Record<string, { port: number; frontend: readonly string[] }>>;
  proxies: Readonly<Record<string, { port: number; options: readonly string[]; bind_address?: string | undefined }>>;
  stats?: { port: number; bind_address?: string | undefined } | undefined;
}

/** Every listener the balancer file itself defines. */
export function balancerListeners(config: ListeningBalancer): Listener[] {
  const listeners: Listener[] = [];
  config.global.forEach((line, index) => listeners.push(...lineListeners(line, 'the global section', ['global', index])));
  for (const [name, meta] of Object.entries(config.meta_clusters)) {
    const owner = `meta-cluster "${name}"`;
    listeners.push(portListener(config.bind_address, meta.port, owner, ['meta_clusters', name, 'port']));
    meta.frontend.forEach((line, index) => listeners.push(...lineListeners(line, owner, ['meta_clusters', name, 'frontend', index])));
  }
  for (const [name, proxy] of Object.entries(config.proxies)) {
    const owner = `proxy "${name}"`;
    listeners.push(portListener(proxy.bind_address ?? config.bind_address, proxy.port, owner, ['proxies', name, 'port']));
    proxy.options.forEach((line, index) => listeners.push(...lineListeners(line, owner, ['proxies', name, 'options', index])));
  }
  if (config.stats) listeners.push(portListener(config.stats.bind_address ?? config.bind_address, config.stats.port, 'the stats listener', ['stats', 'port']));
  return listeners;
}

/** The listeners of one cluster's own frontend (none for meta-cluster members or a cluster without a port: no frontend is rendered). */
export function clusterListeners(bindAddress: string | undefined, name: string, metaCluster: string | undefined, config: { port?: number | undefined; frontend: readonly string[] }): Listener[] {
  if (metaCluster !== undefined || config.port === undefined) return [];
  const owner = `cluster "${name}"`;
  const listeners = [portListener(bindAddress, config.port, owner, ['haproxy', 'port'])];
  config.frontend.forEach((line, index) => listeners.push(...lineListeners(line, owner, ['haproxy', 'frontend', index])));
  return listeners;
}

/** The first pair of listeners that overlap, `later` against `earlier` and against the others in `later`. */
export function firstClash(earlier: readonly Listener[], later: readonly Listener[]): [Listener, Listener] | undefined {
  for (const [index, mine] of later.entries()) {
    const other = earlier.find((listener) => overlaps(listener, mine)) ?? later.slice(0, index).find((listener) => overlaps(listener, mine));
    if (other) return [mine, other];
  }
  return undefined;
}

/** `haproxy.frontend.0 "bind :8080" listens on *:8080, already used by cluster "web" (haproxy.port 8080)`; a port: `haproxy.port 8080 is already used by ...`. */
export function clashMessage(mine: Listener, other: Listener): string {
  const by = other.owner === mine.owner ? `its own ${other.source}` : `${other.owner} (${other.source})`;
  if (mine.setting.at(-1) === 'port') return `${mine.source} is already used by ${by}: both listen on ${describeAddress(mine)}`;
  return `${mine.source} listens on ${describeAddress(mine)}, already used by ${by}`;
}
