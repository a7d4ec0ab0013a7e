import { createHash } from 'node:crypto';
import { z } from 'zod';
import { encodeNodeCached } from './codec.js';
import { nodeKeyCached, type ClusterNode } from './node.js';

/**
 * A writer's acknowledgement record: what its load balancer runs, per
 * cluster it consumes through one discovery backend. One record per writer
 * and backend (an ephemeral znode, a leased etcd key), replaced as a whole.
 *
 * `format` is bumped only by an incompatible change; fields are only ever
 * added within a format, and readers ignore fields they do not know.
 */
export const ACK_FORMAT = 1;

/**
 * The most a record may have: ZooKeeper refuses data over 1 MiB, and just
 * under it the whole request passes jute.maxbuffer and the server drops the
 * connection; etcd's default request limit is 1.5 MiB.
 */
export const MAX_RECORD_BYTES = 1_000_000;

/**
 * What a writer writes instead of a record over MAX_RECORD_BYTES: who it is
 * and which clusters it consumes, without `clusters`, so every reader (this
 * one and older ones) fails to decode it rather than read "runs nothing".
 */
export interface OversizeAck extends Omit<WriterAck, 'clusters'> {
  oversize: { bytes: number; limit: number; clusters?: string[] };
}

export interface ClusterAck {
  /** MemberSet.version of the member set the balancer runs (null: started from the member cache, discovery not heard yet) */
  version: string | null;
  /** memberDigest of what the balancer routes (listed plus held members): equal sets, equal digests */
  digest: string;
  /** members routed */
  members: number;
  /** when this writer applied `version` (its own clock) */
  appliedAt: string | null;
  /** host:port of members the removal guard keeps routed although discovery no longer lists them */
  held: string[];
  /** host:port -> current sessions of servers taken out of routing that still have sessions (HAProxy `scur` of MAINT/DRAIN servers) */
  draining: Record<string, number>;
}

export interface WriterAck {
  format: number;
  /** the writer: host name and state folder, unique per running writer */
  writer: string;
  host: string;
  pid: number;
  configDir: string;
  stateDir: string;
  /** the discovery item (discovery/NAME.yaml) the clusters below come through */
  discovery: string;
  /** Lighthouse version of the writer */
  lighthouse: string;
  /** when the record was written (the writer's clock) */
  writtenAt: string;
  clusters: Record<string, ClusterAck>;
}

const clusterAckSchema = z.looseObject({
  version: z.string().regex(/^[0-9]+$/).nullable(),
  digest: z.string(),
  members: z.number().int().min(0),
  appliedAt: z.string().nullable(),
  held: z.array(z.string()),
  draining: z.record(z.string(), z.number().int().min(0)),
});

const writerAckSchema = z.looseObject({
  format: z.number().int().min(1),
  writer: z.string().min(1),
  host: z.string(),
  pid: z.number().int(),
  configDir: z.string(),
  stateDir: z.string(),
  discovery: z.string(),
  lighthouse: z.string(),
  writtenAt: z.string(),
  clusters: z.record(z.string(), clusterAckSchema),
});

export function encodeAck(ack: WriterAck | OversizeAck): string {
  return JSON.stringify(ack);
}

/** The stand-in for `ack`, whose encoding is `bytes` long; the cluster names are left out too when even they do not fit. */
export function oversizeAck(ack: WriterAck, bytes: number): OversizeAck {
  const { clusters, ...header } = ack;
  const names = Object.keys(clusters);
  const stand: OversizeAck = { ...header, oversize: { bytes, limit: MAX_RECORD_BYTES, clusters: names } };
  if (Buffer.byteLength(encodeAck(stand)) <= MAX_RECORD_BYTES) return stand;
  return { ...header, oversize: { bytes, limit: MAX_RECORD_BYTES } };
}

/** A record as read; `error` when it is not one this version understands. */
export type DecodedAck = { ok: true; ack: WriterAck } | { ok: false; error: string };

export function decodeAck(text: string): DecodedAck {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  const format = (json as { format?: unknown } | null)?.format;
  const oversize = (json as { oversize?: { bytes?: unknown; limit?: unknown } } | null)?.oversize;
  if (oversize !== null && typeof oversize === 'object') return { ok: false, error: `the writer's record is too large to store (${String(oversize.bytes)} bytes, at most ${String(oversize.limit)}): it cannot say what its HAProxy runs (LH_ACK_TOO_LARGE)` };
  if (typeof format === 'number' && format > ACK_FORMAT) return { ok: false, error: `record format ${format} is newer than this Lighthouse understands (${ACK_FORMAT})` };
  const parsed = writerAckSchema.safeParse(json);
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'record'}: ${issue.message}`).join('; ') };
  return { ok: true, ack: parsed.data };
}

/**
 * A short hash of a member set (host:port and data of every member, in
 * host:port order): two writers, or a writer and `drain --wait`, that hold
 * equal sets have equal digests, whatever version each read them at.
 */
export function memberDigest(members: readonly ClusterNode[]): string {
  // The writer's members come sorted by host:port: one pass sees it and no sort runs; one hash update
  // of the joined text, not two per member. It runs on the writer's event loop once a second under
  // changes (1,000 members: 0.36 -> 0.20 ms median here, and no key strings made per comparison).
  let ordered = true;
  for (let index = 1; index < members.length && ordered; index += 1) ordered = compare(nodeKeyCached(members[index - 1]!), nodeKeyCached(members[index]!)) <= 0;
  const sorted = ordered ? members : [...members].sort((a, b) => compare(nodeKeyCached(a), nodeKeyCached(b)));
  const text = sorted.map((node) => `${encodeNodeCached(node)}\n`).join('');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * `web-1_3f2a9c01`: the host name and a hash of the state folder, the
 * discovery name and the machine id (two writers on one machine differ by
 * state folder; two machines that share a host name and a state folder
 * differ by machine id, so each keeps a record of its own instead of
 * replacing the other's: one HAProxy unaccounted for).
 */
export function ackRecordName(host: string, stateDir: string, discovery: string, machine = ''): string {
  const safeHost = host.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 200) || 'host';
  const hash = createHash('sha256').update(`${stateDir}\0${discovery}${machine ? `\0${machine}` : ''}`).digest('hex').slice(0, 8);
  return `${safeHost}_${hash}`;
}

/** `web-1:/var/lib/lighthouse`: how a writer is named to operators. */
export function writerId(host: string, stateDir: string): string {
  return `${host}:${stateDir}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
