import { ConfigDirectory } from '../config/directory.js';
import type { DiscoveryItem } from '../config/model.js';
import { decodeAck, type WriterAck } from '../discovery/ack-record.js';
import type { Discovery } from '../discovery/types.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { pollUntil } from '../lib/poll.js';
import type { PluginRegistries } from '../plugins/registry.js';

/**
 * The fleet as the writers' acknowledgement records describe it: the data
 * behind `lighthouse fleet` (table and --json) and the dashboard's fleet
 * panel. Readers call collectFleet(); fleetModel() is the pure part.
 */

/** One record as read from a backend. */
export interface AckRecordRead {
  /** the discovery item it was read through */
  discovery: string;
  /** `<acks folder>/<record name>` */
  record: string;
  ack: WriterAck;
}

export interface FleetWriter {
  /** `host:stateDir`, unique per running writer */
  writer: string;
  host: string;
  pid: number;
  configDir: string;
  stateDir: string;
  /** Lighthouse version it runs */
  lighthouse: string;
  /** where its record is (one per discovery backend it consumes clusters through) */
  records: string[];
  /** the newest writtenAt of its records (its own clock) */
  writtenAt: string;
}

export interface FleetClusterWriter {
  writer: string;
  host: string;
  /** the version of the member set its balancer runs; null: started from its member cache, discovery not heard yet */
  version: string | null;
  appliedAt: string | null;
  digest: string;
  members: number;
  /** runs the newest version, or the same member set as the writer that does */
  current: boolean;
  /** newest minus applied (ZooKeeper zxids / etcd revisions count every transaction of the ensemble, so this is an upper bound on the cluster's changes); "0" when current, null when unknown */
  versionGap: string | null;
  /** seconds since a writer first applied a version newer than this one's; 0 when current */
  lagSeconds: number;
  /** host:port kept routed by the removal guard */
  held: string[];
  /** host:port -> sessions still on servers taken out of routing */
  draining: Record<string, number>;
}

export interface FleetCluster {
  name: string;
  /** the newest version any writer applied */
  newest: string | null;
  writers: FleetClusterWriter[];
}

export interface FleetReport {
  /** when it was read (this machine's clock) */
  at: string;
  writers: FleetWriter[];
  clusters: FleetCluster[];
  /** backends that did not answer, records that do not decode */
  problems: string[];
}

export interface CollectFleetOptions {
  /** ms to wait for each backend */
  timeoutMs: number;
  /** only this cluster */
  cluster?: string;
  now?: () => number;
}

/** Reads every acknowledgement record reachable through the discovery items of `configDir`, and models them. */
export async function collectFleet(configDir: string, registries: PluginRegistries, options: CollectFleetOptions): Promise<FleetReport> {
  const scan = await new ConfigDirectory(configDir, registries, ['discovery']).scan();
  const problems = scan.problems.map((problem) => `${problem.file}: ${problem.setting ? `${problem.setting}: ` : ''}${problem.message}`);
  const records: AckRecordRead[] = [];
  await Promise.all(
    [...scan.snapshot.discovery.values()].map(async (item) => {
      const outcome = await readAckRecords(item, registries, options.timeoutMs);
      records.push(...outcome.records);
      problems.push(...outcome.problems);
    }),
  );
  if (scan.snapshot.discovery.size === 0) problems.push(`${configDir}: no discovery/*.yaml: nowhere to read acknowledgements from`);
  return fleetModel(records, (options.now ?? Date.now)(), options.cluster, problems);
}

/** The records of one discovery item, through a session of its own (read-only). */
export async function readAckRecords(item: DiscoveryItem, registries: PluginRegistries, timeoutMs: number): Promise<RecordsRead> {
  const plugin = registries.discovery.get(item.plugin);
  if (!plugin) return { records: [], unreadable: [], problems: [`${item.file}: plugin "${item.plugin}" is not registered`] };
  const discovery = plugin.create(item.config, { logger: silentLogger(), name: item.name, file: item.file, now: Date.now });
  try {
    return await readFrom(discovery, item, timeoutMs);
  } finally {
    await discovery.close().catch(() => undefined);
  }
}

/** A record in the acks folder this Lighthouse cannot read: a writer of a newer format, or not a writer's record at all. */
export interface UnreadableRecord {
  /** `<acks folder>/<record name>` */
  record: string;
  error: string;
  /** the cluster names it lists, when it is JSON with a `clusters` object; undefined: it cannot say */
  clusters: string[] | undefined;
}

export interface RecordsRead {
  records: AckRecordRead[];
  /** also in `problems`, one line each */
  unreadable: UnreadableRecord[];
  problems: string[];
}

/** Reads the records through an open discovery instance (drain --wait reads again and again through one). */
export async function readFrom(discovery: Discovery, item: Pick<DiscoveryItem, 'name' | 'file'>, timeoutMs: number): Promise<RecordsRead> {
  const store = discovery.acks;
  if (!store) return { records: [], unreadable: [], problems: [`${item.file}: the "${item.name}" discovery plugin keeps no writer acknowledgements`] };
  discovery.connect();
  let raw: Map<string, string>;
  try {
    raw = await pollUntil(async () => (discovery.state === 'connected' ? store.read() : undefined), `discovery "${item.name}"`, timeoutMs, 25);
  } catch (error) {
    return { records: [], unreadable: [], problems: [`${item.file}: cannot read the writers' acknowledgements in ${store.location} within ${timeoutMs} ms (state ${discovery.state}): ${errorMessage(error)}`] };
  }
  const records: AckRecordRead[] = [];
  const unreadable: UnreadableRecord[] = [];
  const problems: string[] = [];
  for (const [name, text] of [...raw].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const record = `${store.location}/${name}`;
    const decoded = decodeAck(text);
    if (decoded.ok) {
      records.push({ discovery: item.name, record, ack: decoded.ack });
      continue;
    }
    unreadable.push({ record, error: decoded.error, clusters: listedClusters(text) });
    problems.push(`${record}: not a writer acknowledgement this Lighthouse can read: ${decoded.error}`);
  }
  return { records, unreadable, problems };
}

/** The clusters a record names: the keys of its `clusters` object (a newer format keeps them there), or a too-large stand-in's list. */
function listedClusters(text: string): string[] | undefined {
  try {
    const json = JSON.parse(text) as { clusters?: unknown; oversize?: { clusters?: unknown } } | null;
    const stand = json?.oversize?.clusters;
    if (Array.isArray(stand) && stand.every((name) => typeof name === 'string')) return stand as string[];
    const clusters = json?.clusters;
    return clusters !== null && typeof clusters === 'object' && !Array.isArray(clusters) ? Object.keys(clusters) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Per cluster: each writer's applied version against the newest. A writer
 * is current when it runs the newest version or the same member set as a
 * writer that does (an etcd writer that read the cluster afresh reports a
 * later revision for the same set).
 */
export function fleetModel(records: readonly AckRecordRead[], now: number, onlyCluster?: string, problems: string[] = []): FleetReport {
  // Two discovery items on one backend read the same record: one writer+backend is one record.
  const unique = new Map<string, AckRecordRead>();
  for (const record of records) unique.set(`${record.ack.writer}\0${record.ack.discovery}\0${record.record}`, record);
  const byWriter = new Map<string, Set<string>>();
  for (const { record, ack } of unique.values()) byWriter.set(`${ack.writer}\0${ack.discovery}`, (byWriter.get(`${ack.writer}\0${ack.discovery}`) ?? new Set()).add(record));
  for (const [key, paths] of byWriter) {
    if (paths.size > 1) problems.push(`${[...paths].sort().join(', ')}: ${paths.size} records name writer ${key.split('\0')[0]}: two machines share a host name and state folder? (host names must differ across the fleet)`);
  }
  const writers = new Map<string, FleetWriter>();
  const perCluster = new Map<string, { writer: WriterAck; entry: WriterAck['clusters'][string] }[]>();
  for (const { record, ack } of unique.values()) {
    const writer = writers.get(ack.writer) ?? { writer: ack.writer, host: ack.host, pid: ack.pid, configDir: ack.configDir, stateDir: ack.stateDir, lighthouse: ack.lighthouse, records: [], writtenAt: ack.writtenAt };
    writer.records.push(record);
    if (ack.writtenAt > writer.writtenAt) writer.writtenAt = ack.writtenAt;
    writers.set(ack.writer, writer);
    for (const [name, entry] of Object.entries(ack.clusters)) {
      if (onlyCluster !== undefined && name !== onlyCluster) continue;
      const list = perCluster.get(name) ?? [];
      list.push({ writer: ack, entry });
      perCluster.set(name, list);
    }
  }
  const clusters: FleetCluster[] = [...perCluster]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, list]) => {
      let newest: bigint | undefined;
      for (const { entry } of list) if (entry.version !== null && (newest === undefined || BigInt(entry.version) > newest)) newest = BigInt(entry.version);
      const newestDigests = new Set(list.filter(({ entry }) => entry.version !== null && BigInt(entry.version) === newest).map(({ entry }) => entry.digest));
      return {
        name,
        newest: newest?.toString() ?? null,
        writers: list
          .map(({ writer, entry }): FleetClusterWriter => {
            const version = entry.version === null ? undefined : BigInt(entry.version);
            const current = newest === undefined || version === newest || (newestDigests.has(entry.digest) && entry.held.length === 0);
            // Since the first writer applied something newer than this one runs.
            let since: number | undefined;
            if (!current) {
              for (const other of list) {
                if (other.entry.version === null || other.entry.appliedAt === null || (version !== undefined && BigInt(other.entry.version) <= version)) continue;
                const at = Date.parse(other.entry.appliedAt);
                if (Number.isFinite(at) && (since === undefined || at < since)) since = at;
              }
            }
            return {
              writer: writer.writer,
              host: writer.host,
              version: entry.version,
              appliedAt: entry.appliedAt,
              digest: entry.digest,
              members: entry.members,
              current,
              versionGap: current ? '0' : version === undefined || newest === undefined ? null : (newest - version).toString(),
              lagSeconds: current || since === undefined ? 0 : Math.max(0, Math.round((now - since) / 100) / 10),
              held: entry.held,
              draining: entry.draining,
            };
          })
          .sort((a, b) => (a.writer < b.writer ? -1 : 1)),
      };
    });
  return { at: new Date(now).toISOString(), writers: [...writers.values()].sort((a, b) => (a.writer < b.writer ? -1 : 1)), clusters, problems };
}
