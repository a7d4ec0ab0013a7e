import { nodeKey, nodeKeyCached, type ClusterNode } from '../../discovery/node.js';
import type { BalancedCluster } from '../types.js';
import { ConfigText, lastSetting, mentions, modeOf, words, type TextBlock } from './config-text.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';
import { staticOnlyKeywords } from './server-keywords.js';
import { clusterTraffic, type ZoneRouting } from './traffic.js';

/** One `server` line of a cluster backend. */
export interface RenderedServer {
  /** `host:port`, the znode name of the node */
  name: string;
  ip: string;
  port: number;
  /** the weight HAProxy must have for it (set at run time with `set server weight`) */
  weight: number;
  /** an HAProxy `backup` server (fixed when the server is added: a change re-adds it) */
  backup: boolean;
  /** words for `add server` after the backend's own: `weight N` / `backup` where the cluster sets them */
  addWords: readonly string[];
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
  /** the zone decision (zone-aware clusters of a writer with a zone) */
  zone: ZoneRouting | undefined;
}

type Cluster = BalancedCluster<HaproxyClusterConfig>;

const SAFE_HOST = /^[A-Za-z0-9_.-]{1,253}$/;
export const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Hash-based algorithms are static (and refuse dynamic servers) unless `hash-type consistent`. */
const HASH_ALGORITHMS = new Set(['source', 'uri', 'url_param', 'hdr', 'rdp-cookie', 'hash']);

function validNode(node: ClusterNode): boolean {
  return SAFE_HOST.test(node.host) && IPV4.test(node.ip) && Number.isInteger(node.port) && node.port >= 1 && node.port <= 65535;
}

export interface BackendBlock extends TextBlock {
  /** one per line of `text` */
  owners: string[];
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

export function backendBlock(config: HaproxyConfig, cluster: Cluster): BackendBlock {
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

/**
 * One member's server line as last rendered, kept on the node object
 * (discovery hands back the same object for a child it did not re-read, and
 * never edits one): a change in a 1,000-member cluster re-renders the one
 * member that changed, not the 999 others (their address checks, words and
 * line text were ~1.3 ms of the ~3 ms between a member set and the runtime
 * command). Valid for the backend settings it was rendered with (`shape`) and
 * the role it had then (a zone spillover changes every member's role).
 */
interface ServerEntry {
  shape: ServerShape;
  weight: number | undefined;
  backup: boolean;
  server: RenderedServer;
  line: string;
}

/** What a server line depends on besides the node and its role: one object per backend render that changes them. */
interface ServerShape {
  http: boolean;
  options: readonly string[];
  optionWeight: number;
  optionBackup: boolean;
}

const serverEntries = new WeakMap<ClusterNode, ServerEntry>();
/** The shape of each cluster's server lines, reused while its words are the same, so its members' entries stay valid. */
const shapes = new Map<string, ServerShape>();

/** No weights and no zone decision: every member has the same role, nothing to compute per member. */
const PLAIN_ROLE = { weight: undefined, backup: false } as const;

function serverShape(clusterName: string, http: boolean, options: readonly string[], optionWeight: number, optionBackup: boolean): ServerShape {
  const known = shapes.get(clusterName);
  if (known && known.http === http && known.optionWeight === optionWeight && known.optionBackup === optionBackup && sameItems(known.options, options)) return known;
  const shape = { http, options: [...options], optionWeight, optionBackup };
  shapes.set(clusterName, shape);
  return shape;
}

function serverEntry(node: ClusterNode, shape: ServerShape, role: { weight: number | undefined; backup: boolean }): ServerEntry {
  const cached = serverEntries.get(node);
  if (cached && cached.shape === shape && cached.weight === role.weight && cached.backup === role.backup) return cached;
  const name = nodeKeyCached(node);
  const addWords = [...(role.weight === undefined ? [] : ['weight', String(role.weight)]), ...(role.backup ? ['backup'] : [])];
  const server: RenderedServer = { name, ip: node.ip, port: node.port, weight: role.weight ?? shape.optionWeight, backup: role.backup || shape.optionBackup, addWords };
  const cookie = shape.http ? ` cookie ${name}` : '';
  const extra = [...shape.options, ...addWords];
  const entry = { shape, weight: role.weight, backup: role.backup, server, line: `server ${name} ${node.ip}:${node.port}${cookie}${extra.length > 0 ? ` ${extra.join(' ')}` : ''}` };
  serverEntries.set(node, entry);
  return entry;
}

/** Nodes that passed validNode (its regexes per member and change were ~0.3 ms per 1,000). */
const validNodes = new WeakSet<ClusterNode>();

function renderBackend(config: HaproxyConfig, cluster: Cluster): BackendBlock {
  const out = new ConfigText();
  const skipped: string[] = [];
  const owner = `cluster "${cluster.name}"`;
  const own = cluster.config.backend;
  const http = modeOf(own, config.defaults) === 'http';
  out.section(`backend ${cluster.name}`, owner);
  for (const line of own) out.directive(line, `${owner} backend`);
  const zoneAware = config.zone !== undefined && cluster.config.zone_aware !== undefined;
  if (zoneAware && !mentions(own, 'option allbackups')) {
    out.comment('Lighthouse: zone_aware: other zones\' members are backup servers; when none of this zone is usable, all of them serve.', owner);
    out.directive('option allbackups', owner);
  }

  const valid = cluster.members.filter((node) => {
    if (validNodes.has(node)) return true;
    if (validNode(node)) {
      validNodes.add(node);
      return true;
    }
    skipped.push(`cluster "${cluster.name}": node ${JSON.stringify(nodeKey(node))} left out: host, ip or port cannot be used in an HAProxy config`);
    return false;
  });
  if (cluster.config.zone_aware && config.zone === undefined) {
    skipped.push(`cluster "${cluster.name}": haproxy.zone_aware has no effect: the balancer file sets no zone for this writer, so every member is active`);
  }
  // Roles come from the whole set (a zone spillover) or from metadata (weights); without either, every member has the plain role.
  const traffic = zoneAware || cluster.config.weights ? clusterTraffic(config.zone, cluster.config, valid) : undefined;
  if (traffic) skipped.push(...traffic.problems.map((problem) => `cluster "${cluster.name}": ${problem}`));
  const options = [...cluster.config.server_options, ...(cluster.config.slow_start === undefined ? [] : ['slowstart', cluster.config.slow_start])];
  const backend = describeBackend(cluster.name, own, config.defaults, options, http);
  const shape = serverShape(cluster.name, http, options, lastWeight(backend.addOptions) ?? 1, backend.addOptions.includes('backup'));
  // Members come sorted by host:port and without duplicates from the writer: one pass sees it, and needs no map or sort.
  let entries = valid.map((node) => serverEntry(node, shape, traffic ? traffic.members.get(nodeKeyCached(node))! : PLAIN_ROLE));
  if (!strictlyAscending(entries)) {
    const servers = new Map<string, ServerEntry>();
    for (const entry of entries) if (!servers.has(entry.server.name)) servers.set(entry.server.name, entry);
    entries = [...servers.values()].sort((a, b) => (a.server.name < b.server.name ? -1 : a.server.name > b.server.name ? 1 : 0));
  }
  out.skeletonOnly(`server options: ${options.join(' ')}`);
  for (const entry of entries) out.directive(entry.line, owner, true);
  return {
    text: out.lines.join('\n'),
    owners: out.owners,
    skeletonText: out.skeleton.join('\n'),
    skipped,
    backend: { ...backend, servers: entries.map((entry) => entry.server), zone: traffic?.zone },
  };
}

function strictlyAscending(entries: readonly ServerEntry[]): boolean {
  for (let i = 1; i < entries.length; i += 1) if (!(entries[i - 1]!.server.name < entries[i]!.server.name)) return false;
  return true;
}

/** The last `weight N` among server words (HAProxy keeps the last one). */
function lastWeight(words: readonly string[]): number | undefined {
  const index = words.lastIndexOf('weight');
  const value = index >= 0 ? Number(words[index + 1]) : Number.NaN;
  return Number.isInteger(value) ? value : undefined;
}

function describeBackend(
  name: string,
  own: readonly string[],
  defaults: readonly string[],
  serverOptions: readonly string[],
  http: boolean,
): Omit<RenderedBackend, 'servers' | 'zone'> {
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
    addOptions,
    staticReason: reasons.length > 0 ? reasons.join('; ') : undefined,
    healthCheck: addOptions.includes('check'),
    agentCheck: addOptions.includes('agent-check'),
    startsDisabled: addOptions.includes('disabled'),
  };
}
