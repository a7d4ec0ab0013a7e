import { isIPv4 } from 'node:net';
import { DEFAULT_PEER_PORT, type ClusterNode, type Metadata, type Peer } from './node.js';
import { PythonNumber, pythonJsonDumps } from './python-json.js';
import { fail, ok, type Result } from '../lib/result.js';

/** Larger payloads are not nodes; refusing them early bounds memory per znode. */
export const MAX_NODE_BYTES = 64 * 1024;

/**
 * Metadata nesting limit. JSON.parse accepts any depth, but re-encoding (and
 * the core's comparisons) recurse: a hostile node nested 20,000 deep would
 * overflow the stack of every writer that reads it.
 */
export const MAX_METADATA_DEPTH = 32;

/** RFC 1123 host names: letters, digits, hyphens, dots (and `_`, seen in the wild). */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/**
 * Encodes a node exactly as the original Lighthouse did (see SPEC §3): the
 * keys host, ip, metadata, peer, port in that (sorted) order, metadata and
 * peer as JSON strings inside the JSON. Joined from an array because the
 * result is kept for every member (see encodeNodeCached): a join gives one
 * flat string, where `+` would keep a tree of pieces alive per node.
 */
export function encodeNode(node: ClusterNode): string {
  const peer = node.peer ? pythonJsonDumps({ ip: node.peer.ip, name: node.peer.name, port: node.peer.port }) : null;
  return [
    '{"host": ',
    pythonJsonDumps(node.host),
    ', "ip": ',
    pythonJsonDumps(node.ip),
    ', "metadata": ',
    pythonJsonDumps(pythonJsonDumps(node.metadata)),
    ', "peer": ',
    pythonJsonDumps(peer),
    ', "port": ',
    pythonJsonDumps(node.port),
    '}',
  ].join('');
}

/** Encodings of node objects already encoded (nodes are never mutated once decoded or built). */
const encodings = new WeakMap<ClusterNode, string>();

/** `encodeNode`, remembered per node object: comparing and caching large member sets stays cheap. */
export function encodeNodeCached(node: ClusterNode): string {
  let encoded = encodings.get(node);
  if (encoded === undefined) {
    encoded = encodeNode(node);
    encodings.set(node, encoded);
  }
  return encoded;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes znode data strictly. Anything that could end up in the HAProxy config
 * (host, ip, port, peer) is checked against a narrow grammar, so hostile data
 * can never inject directives.
 */
export function decodeNode(data: Buffer | Uint8Array | string): Result<ClusterNode> {
  if (data.length > MAX_NODE_BYTES) return fail(`data is ${data.length} bytes, more than ${MAX_NODE_BYTES}`);
  let text: string;
  try {
    text = typeof data === 'string' ? data : utf8.decode(data);
  } catch {
    return fail('data is not valid UTF-8');
  }
  const parsed = parseJson(text);
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  if (!isPlainObject(raw)) return fail('data is not a JSON object');

  const port = checkPort(raw.port, 'port');
  if (!port.ok) return port;
  if (typeof raw.ip !== 'string' || !isIPv4(raw.ip)) return fail(`ip ${describe(raw.ip)} is not an IPv4 address`);
  const host = raw.host === undefined || raw.host === null ? raw.ip : raw.host;
  if (typeof host !== 'string' || !(HOST_NAME.test(host) || isIPv4(host))) return fail(`host ${describe(host)} is not a host name`);

  const metadata = decodeMetadata(raw.metadata);
  if (!metadata.ok) return metadata;
  const peer = decodePeer(raw.peer);
  if (!peer.ok) return peer;

  return ok({ host, ip: raw.ip, port: port.value, metadata: metadata.value, peer: peer.value });
}

function decodeMetadata(value: unknown): Result<Metadata> {
  if (value === undefined || value === null) return ok({});
  // The original stores metadata as a JSON string inside the JSON object.
  const parsed = typeof value === 'string' ? parseJson(value) : ok(value);
  if (!parsed.ok) return fail(`metadata: ${parsed.error}`);
  if (!isPlainObject(parsed.value)) return fail('metadata is not a JSON object');
  if (exceedsDepth(parsed.value, MAX_METADATA_DEPTH)) return fail(`metadata is nested deeper than ${MAX_METADATA_DEPTH} levels`);
  return ok(parsed.value as Metadata);
}

function decodePeer(value: unknown): Result<Peer | null> {
  if (value === undefined || value === null) return ok(null);
  const parsed = typeof value === 'string' ? parseJson(value) : ok(value);
  if (!parsed.ok) return fail(`peer: ${parsed.error}`);
  const raw = parsed.value;
  if (!isPlainObject(raw)) return fail('peer is not a JSON object');
  if (typeof raw.name !== 'string' || !(HOST_NAME.test(raw.name) || isIPv4(raw.name))) return fail(`peer name ${describe(raw.name)} is not a host name`);
  if (typeof raw.ip !== 'string' || !isIPv4(raw.ip)) return fail(`peer ip ${describe(raw.ip)} is not an IPv4 address`);
  const port = raw.port === undefined || raw.port === null ? ok(DEFAULT_PEER_PORT) : checkPort(raw.port, 'peer port');
  if (!port.ok) return port;
  return ok({ name: raw.name, ip: raw.ip, port: port.value });
}

function checkPort(value: unknown, label: string): Result<number> {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    return fail(`${label} ${describe(value)} is not a port number (1-65535)`);
  }
  return ok(value);
}

function parseJson(text: string): Result<unknown> {
  try {
    return ok(JSON.parse(text) as unknown);
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`);
  }
}

/** Room left in a node for everything but its metadata (host and peer name up to 253 bytes each, keys, ip, ports). */
const NODE_OVERHEAD_BYTES = 1024;

/**
 * Why a node carrying this metadata would be rejected by every reader, or
 * undefined when it is fine: the reporter checks its config with it, so a
 * service is refused with file and setting instead of registering a node
 * that no writer will route.
 */
export function metadataProblem(metadata: Metadata): string | undefined {
  if (exceedsDepth(metadata, MAX_METADATA_DEPTH)) return `is nested deeper than ${MAX_METADATA_DEPTH} levels (readers reject such nodes)`;
  const bytes = Buffer.byteLength(JSON.stringify(pythonJsonDumps(metadata)), 'utf8');
  if (bytes + NODE_OVERHEAD_BYTES > MAX_NODE_BYTES) return `is ${bytes} bytes encoded; a node may be at most ${MAX_NODE_BYTES} bytes (readers reject larger ones)`;
  return undefined;
}

/** Iterative, so measuring a hostile value cannot itself overflow the stack. */
function exceedsDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null || current instanceof PythonNumber) continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Quotes a rejected value for the log, cut short so a huge payload cannot flood it. */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
