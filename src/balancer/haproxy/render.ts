import { nodeKey, type ClusterNode } from '../../discovery/node.js';
import type { BalancedCluster } from '../types.js';
import { haproxyPaths } from './paths.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';
import { staticOnlyKeywords } from './server-keywords.js';

/** One `server` line of a cluster backend. */
export interface RenderedServer {
  /** `host:port`, the znode name of the node */
  name: string;
  ip: string;
  port: number;
}

/** What the runtime API needs to know about a cluster backend to change its servers without a reload. */
export interface RenderedBackend {
  name: string;
  /** sorted by name */
  servers: readonly RenderedServer[];
  /** words to pass to `add server` after the address: default-server words, then server_options, minus `cookie` */
  addOptions: readonly string[];
  /** why servers cannot be added at run time (the change needs a reload), or undefined */
  staticReason: string | undefined;
  /** `add server` leaves checks off: they must be enabled explicitly */
  healthCheck: boolean;
  agentCheck: boolean;
  /** the options say `disabled`: a new server must stay in maintenance */
  startsDisabled: boolean;
}

export interface RenderedConfig {
  text: string;
  /**
   * The text without the server lines of cluster backends. Two renders with
   * equal skeletons differ only in membership, which the runtime API can apply.
   */
  skeleton: string;
  backends: ReadonlyMap<string, RenderedBackend>;
  /** number of frontends and listeners: HAProxy refuses to start without one */
  listeners: number;
  /** for each line (index = line number - 1), what produced it, to name the culprit of an HAProxy error */
  owners: readonly string[];
  /** nodes that were left out because their data cannot be put in a config safely */
  skipped: readonly string[];
}

type Cluster = BalancedCluster<HaproxyClusterConfig>;

const INDENT = '    ';
const SAFE_HOST = /^[A-Za-z0-9_.-]{1,253}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const SAFE_PEER_NAME = /^[A-Za-z0-9_.:-]{1,253}$/;
/** Hash-based algorithms are static (and refuse dynamic servers) unless `hash-type consistent`. */
const HASH_ALGORITHMS = new Set(['source', 'uri', 'url_param', 'hdr', 'rdp-cookie', 'hash']);

const words = (line: string): string[] => line.trim().split(/\s+/).filter(Boolean);

/** Words of the last line that sets `keyword` (one or more words), ignoring `no`/`default` forms. */
function lastSetting(lines: readonly string[], keyword: string): string[] | undefined {
  const wanted = keyword.split(' ');
  let found: string[] | undefined;
  for (const line of lines) {
    const lineWords = words(line).map((word) => word.replace(/\(.*$/, ''));
    if (wanted.every((word, index) => lineWords[index] === word)) found = words(line);
  }
  return found;
}

/** Whether any line sets, negates or resets `keyword`: then the user has decided and we add nothing. */
function mentions(lines: readonly string[], keyword: string): boolean {
  const wanted = keyword.split(' ');
  return lines.some((line) => {
    let lineWords = words(line);
    if (lineWords[0] === 'no' || lineWords[0] === 'default') lineWords = lineWords.slice(1);
    return wanted.every((word, index) => lineWords[index] === word);
  });
}

function modeOf(own: readonly string[], defaults: readonly string[]): 'http' | 'tcp' {
  const mode = lastSetting(own, 'mode') ?? lastSetting(defaults, 'mode');
  return mode?.[1] === 'http' ? 'http' : 'tcp';
}

function bindLine(address: string | undefined, port: number): string {
  return `bind ${address ?? ''}:${port}`;
}

function validNode(node: ClusterNode): boolean {
  return SAFE_HOST.test(node.host) && IPV4.test(node.ip) && Number.isInteger(node.port) && node.port >= 1 && node.port <= 65535;
}

/** Names of clusters whose peers section some user line refers to (`... peers <cluster>`). */
function referencedPeers(config: HaproxyConfig, clusters: readonly Cluster[]): Set<string> {
  const lines = [
    ...config.global,
    ...config.defaults,
    ...Object.values(config.meta_clusters).flatMap((meta) => meta.frontend),
    ...Object.values(config.proxies).flatMap((proxy) => proxy.options),
    ...clusters.flatMap((cluster) => [...cluster.config.frontend, ...cluster.config.backend]),
  ];
  const referenced = new Set<string>();
  for (const line of lines) {
    const lineWords = words(line);
    lineWords.forEach((word, index) => {
      const next = lineWords[index + 1];
      if (word === 'peers' && next) referenced.add(next);
    });
  }
  return referenced;
}

class ConfigText {
  /** one line each, except appended blocks: one element of several lines (owners stay one per line) */
  readonly lines: string[] = [];
  readonly owners: string[] = [];
  readonly skeleton: string[] = [];

  section(header: string, owner: string): void {
    if (this.lines.length > 0) this.add('', owner);
    this.add(header, owner);
  }

  directive(line: string, owner: string, membership = false): void {
    this.add(`${INDENT}${line.trim()}`, owner, membership);
  }

  /** In the skeleton only: settings that shape server lines, so changing them for existing servers is structural. */
  skeletonOnly(line: string): void {
    this.skeleton.push(`${INDENT}#> ${line}`);
  }

  comment(text: string, owner: string): void {
    this.add(`${INDENT}# ${text}`, owner);
  }

  /**
   * Lines rendered earlier (a cached backend block), giving the same text as
   * if added one by one. The block comes pre-joined: joining the whole file
   * line by line was most of a render with 10,000 servers.
   */
  append(block: BackendBlock): void {
    if (block.owners.length === 0) return;
    if (this.lines.length > 0) this.add('', block.owners[0]!);
    this.lines.push(block.text);
    for (const owner of block.owners) this.owners.push(owner);
    this.skeleton.push(block.skeletonText);
  }

  private add(line: string, owner: string, membership = false): void {
    this.lines.push(line);
    this.owners.push(owner);
    if (!membership) this.skeleton.push(line);
  }
}

/**
 * Renders the whole HAProxy configuration. Pure: the same inputs give the
 * same text byte for byte (servers, peers and clusters are sorted), so an
 * unchanged state never causes a write, a check or a reload.
 *
 * `clusters` must already have passed the cross-checks (see cross-check.ts).
 */
export function renderConfig(config: HaproxyConfig, clusters: readonly Cluster[]): RenderedConfig {
  const out = new ConfigText();
  const paths = haproxyPaths(config);
  const sorted = [...clusters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const skipped: string[] = [];
  const backends = new Map<string, RenderedBackend>();
  let listeners = 0;

  out.lines.push('# Generated by Lighthouse. Do not edit: every change of the cluster state rewrites this file.');
  out.owners.push('header');
  out.skeleton.push(out.lines[0]!);

  // --- global
  out.section('global', 'global');
  for (const line of config.global) out.directive(line, 'balancer setting global');
  out.comment('Lighthouse: admin socket for runtime membership changes; "expose-fd listeners" lets a', 'global');
  out.comment('reloading master take the listening sockets over, so no connection is refused.', 'global');
  out.directive(`stats socket ${paths.adminSocket} mode 600 level admin expose-fd listeners`, 'global');
  if (!mentions(config.global, 'server-state-file')) {
    out.comment('Lighthouse: server states (maintenance, drain, weights, check results) dumped before each reload.', 'global');
    out.directive(`server-state-file ${paths.serverState}`, 'global');
  }
  if (!mentions(config.global, 'mworker-max-reloads')) {
    out.comment('Lighthouse: a worker kept alive by a long-lived connection is stopped after 50 reloads,', 'global');
    out.comment('so frequent structural changes cannot pile up old processes.', 'global');
    out.directive('mworker-max-reloads 50', 'global');
  }

  // --- defaults
  const defaultsMode = modeOf([], config.defaults);
  out.section('defaults', 'defaults');
  for (const line of config.defaults) out.directive(line, 'balancer setting defaults');
  const sane: [keyword: string, line: string, why: string[]][] = [
    ['option redispatch', 'option redispatch', ['a request whose server went away is sent to another server instead of failing']],
    ['retries', 'retries 3', ['failed connection attempts are retried (with redispatch, on another server)']],
    [
      'retry-on',
      'retry-on conn-failure empty-response response-timeout',
      [
        'http mode: also retry when a server closed or timed out before answering (a member being',
        'removed or restarted). This replays requests: for non-idempotent APIs without replay',
        'protection set "retry-on conn-failure" in defaults.',
      ],
    ],
    ['load-server-state-from-file', 'load-server-state-from-file global', ['a reloaded worker starts with the server states of the old one']],
    ['timeout connect', 'timeout connect 5s', ['without timeouts HAProxy waits forever']],
    ['timeout client', 'timeout client 1m', []],
    ['timeout server', 'timeout server 1m', []],
  ];
  const added = sane.filter(([keyword]) => !mentions(config.defaults, keyword));
  if (defaultsMode === 'http' && !mentions(config.defaults, 'option idle-close-on-response')) {
    added.push([
      'option idle-close-on-response',
      'option idle-close-on-response',
      ['a stopping worker closes idle keep-alive client connections after a response instead of', 'cutting them: without it keep-alive clients see errors on every reload'],
    ]);
  }
  if (added.length > 0) out.comment('Lighthouse defaults (only where the settings above say nothing):', 'defaults');
  for (const [, line, why] of added) {
    for (const text of why) out.comment(text, 'defaults');
    out.directive(line, 'defaults');
  }
  const idleCloseSaid = mentions(config.defaults, 'option idle-close-on-response');
  const frontendExtras = (own: readonly string[]): string[] =>
    defaultsMode !== 'http' && modeOf(own, config.defaults) === 'http' && !idleCloseSaid && !mentions(own, 'option idle-close-on-response')
      ? ['option idle-close-on-response']
      : [];

  // --- meta-cluster frontends
  for (const name of Object.keys(config.meta_clusters).sort()) {
    const meta = config.meta_clusters[name]!;
    const owner = `meta-cluster "${name}"`;
    out.section(`frontend ${name}`, owner);
    listeners += 1;
    out.directive(bindLine(config.bind_address, meta.port), owner);
    for (const line of meta.frontend) out.directive(line, `${owner} frontend`);
    for (const line of frontendExtras(meta.frontend)) out.directive(line, owner);
    for (const member of sorted.filter((cluster) => cluster.metaCluster === name && cluster.config.acl !== undefined)) {
      const memberOwner = `cluster "${member.name}" (acl)`;
      out.directive(`acl is_${member.name} ${member.config.acl}`, memberOwner);
      out.directive(`use_backend ${member.name} if is_${member.name}`, memberOwner);
    }
  }

  // --- per-cluster frontends
  for (const cluster of sorted) {
    if (cluster.metaCluster !== undefined || cluster.config.port === undefined) continue;
    const owner = `cluster "${cluster.name}"`;
    out.section(`frontend ${cluster.name}`, owner);
    listeners += 1;
    out.directive(bindLine(config.bind_address, cluster.config.port), owner);
    for (const line of cluster.config.frontend) out.directive(line, `${owner} frontend`);
    for (const line of frontendExtras(cluster.config.frontend)) out.directive(line, owner);
    out.directive(`default_backend ${cluster.name}`, owner);
  }

  // --- per-cluster backends
  for (const cluster of sorted) {
    const block = backendBlock(config, cluster);
    out.append(block);
    skipped.push(...block.skipped);
    backends.set(cluster.name, block.backend);
  }

  // --- peers sections, only where some line uses them: each membership change of such a cluster needs a reload
  const peered = referencedPeers(config, sorted);
  for (const cluster of sorted) {
    if (!peered.has(cluster.name)) continue;
    const owner = `cluster "${cluster.name}" (peers)`;
    out.section(`peers ${cluster.name}`, owner);
    const peers = new Map<string, string>();
    for (const node of cluster.members) {
      const peer = node.peer;
      if (!peer || !SAFE_PEER_NAME.test(peer.name) || !IPV4.test(peer.ip) || !Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65535) continue;
      if (!peers.has(peer.name)) peers.set(peer.name, `peer ${peer.name} ${peer.ip}:${peer.port}`);
    }
    for (const name of [...peers.keys()].sort()) out.directive(peers.get(name)!, owner);
    // HAProxy refuses the whole config when a stick-table uses a peers section without any peer
    // (first start, every instance down); a disabled section leaves the table local until one comes.
    if (peers.size === 0) out.directive('disabled', owner);
  }

  // --- proxies to fixed upstreams
  for (const name of Object.keys(config.proxies).sort()) {
    const proxy = config.proxies[name]!;
    const owner = `proxy "${name}"`;
    out.section(`listen ${name}`, owner);
    listeners += 1;
    out.directive(bindLine(proxy.bind_address ?? config.bind_address, proxy.port), owner);
    for (const line of proxy.options) out.directive(line, `${owner} options`);
    for (const line of frontendExtras(proxy.options)) out.directive(line, owner);
    for (const upstream of proxy.upstreams) {
      const maxconn = upstream.max_conn !== undefined ? ` maxconn ${upstream.max_conn}` : '';
      out.directive(`server ${upstream.host}:${upstream.port} ${upstream.host}:${upstream.port}${maxconn}`, owner);
    }
  }

  // --- stats page
  if (config.stats) {
    const stats = config.stats;
    const owner = 'stats';
    out.section('listen stats', owner);
    listeners += 1;
    // HAProxy 2.x rejects the address on the "listen" line that the original emitted.
    out.directive(bindLine(stats.bind_address ?? config.bind_address, stats.port), owner);
    out.directive('mode http', owner);
    out.directive('stats enable', owner);
    out.directive(`stats uri ${stats.uri ?? '/'}`, owner);
    if (stats.timeouts?.connect !== undefined) out.directive(`timeout connect ${stats.timeouts.connect}ms`, owner);
    if (stats.timeouts?.client !== undefined) out.directive(`timeout client ${stats.timeouts.client}ms`, owner);
    if (stats.timeouts?.server !== undefined) out.directive(`timeout server ${stats.timeouts.server}ms`, owner);
    if (stats.auth !== undefined) out.directive(`stats auth ${stats.auth}`, owner);
  }

  return {
    text: `${out.lines.join('\n')}\n`,
    skeleton: `${out.skeleton.join('\n')}\n`,
    backends,
    listeners,
    owners: out.owners,
    skipped,
  };
}

interface BackendBlock {
  /** the section without the blank line before it (append adds that), lines joined */
  text: string;
  /** one per line of `text` */
  owners: string[];
  skeletonText: string;
  skipped: string[];
  backend: RenderedBackend;
}

/**
 * Rendered backend sections, reused while a cluster's members array, its
 * section of the cluster file and the balancer file are the same objects:
 * the writer hands over the same members array until that cluster changes,
 * so one change re-renders one backend, not all of them (1,000 clusters x 10
 * nodes: ~14 ms per change otherwise). Keyed by the members array, so an
 * entry goes away with it.
 */
const backendBlocks = new WeakMap<readonly ClusterNode[], { config: HaproxyConfig; cluster: Cluster; members: readonly ClusterNode[]; block: BackendBlock }>();

function backendBlock(config: HaproxyConfig, cluster: Cluster): BackendBlock {
  const cached = backendBlocks.get(cluster.members);
  if (
    cached &&
    cached.config === config &&
    cached.cluster.config === cluster.config &&
    cached.cluster.name === cluster.name &&
    // A caller that edits its array in place still gets a fresh render (pointer compares only).
    sameItems(cached.members, cluster.members)
  ) {
    return cached.block;
  }
  const block = renderBackend(config, cluster);
  backendBlocks.set(cluster.members, { config, cluster, members: [...cluster.members], block });
  return block;
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

function renderBackend(config: HaproxyConfig, cluster: Cluster): BackendBlock {
  const out = new ConfigText();
  const skipped: string[] = [];
  const owner = `cluster "${cluster.name}"`;
  const own = cluster.config.backend;
  const http = modeOf(own, config.defaults) === 'http';
  out.section(`backend ${cluster.name}`, owner);
  for (const line of own) out.directive(line, `${owner} backend`);

  const servers = new Map<string, RenderedServer>();
  for (const node of cluster.members) {
    if (!validNode(node)) {
      skipped.push(`cluster "${cluster.name}": node ${JSON.stringify(nodeKey(node))} left out: host, ip or port cannot be used in an HAProxy config`);
      continue;
    }
    const name = nodeKey(node);
    if (!servers.has(name)) servers.set(name, { name, ip: node.ip, port: node.port });
  }
  const serverList = [...servers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const options = cluster.config.server_options;
  out.skeletonOnly(`server options: ${options.join(' ')}`);
  for (const server of serverList) {
    const cookie = http ? ` cookie ${server.name}` : '';
    const extra = options.length > 0 ? ` ${options.join(' ')}` : '';
    out.directive(`server ${server.name} ${server.ip}:${server.port}${cookie}${extra}`, owner, true);
  }
  return {
    text: out.lines.join('\n'),
    owners: out.owners,
    skeletonText: out.skeleton.join('\n'),
    skipped,
    backend: describeBackend(cluster.name, own, config.defaults, options, http, serverList),
  };
}

function describeBackend(
  name: string,
  own: readonly string[],
  defaults: readonly string[],
  serverOptions: readonly string[],
  http: boolean,
  servers: readonly RenderedServer[],
): RenderedBackend {
  // `add server` ignores default-server lines, so their words are passed explicitly.
  const defaultServer = [...defaults, ...own].filter((line) => words(line)[0] === 'default-server').flatMap((line) => words(line).slice(1));
  const addOptions = [...defaultServer, ...serverOptions];
  const reasons: string[] = [];
  const refused = staticOnlyKeywords(addOptions);
  if (refused.length > 0) reasons.push(`its server options use ${refused.map((word) => `"${word}"`).join(', ')}, which "add server" refuses`);
  if (http && (lastSetting(own, 'cookie') ?? lastSetting(defaults, 'cookie'))) {
    reasons.push('it uses cookie persistence and runtime-added servers cannot carry a cookie value');
  }
  const balance = (lastSetting(own, 'balance') ?? lastSetting(defaults, 'balance'))?.[1]?.replace(/\(.*$/, '');
  const hashType = (lastSetting(own, 'hash-type') ?? lastSetting(defaults, 'hash-type'))?.[1];
  if (balance === 'static-rr' || (balance !== undefined && HASH_ALGORITHMS.has(balance) && hashType !== 'consistent')) {
    reasons.push(`its "balance ${balance}" is a static algorithm, which refuses runtime-added servers`);
  }
  return {
    name,
    servers,
    addOptions,
    staticReason: reasons.length > 0 ? reasons.join('; ') : undefined,
    healthCheck: addOptions.includes('check'),
    agentCheck: addOptions.includes('agent-check'),
    startsDisabled: addOptions.includes('disabled'),
  };
}
