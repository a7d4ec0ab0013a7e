import type { HaproxyClusterConfig, HaproxyConfig } from '../balancer/haproxy/schema.js';
import { clusterTraffic, type ZoneRouting } from '../balancer/haproxy/traffic.js';
import { createHaproxyControl, type ServerStat } from '../balancer/haproxy/runtime-channel.js';
import { readDownMarker } from '../balancer/haproxy/health.js';
import { ConfigDirectory } from '../config/directory.js';
import type { BalancerItem, ClusterItem, DiscoveryItem } from '../config/model.js';
import { nodeKey } from '../discovery/node.js';
import type { Discovery, MemberSet } from '../discovery/types.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { drainFilePath, effectiveDrain, emptyDrains, readDrains, type DrainState, type Maintenance } from '../reporter/drains.js';
import { advertisedAddress, resolveLocalIdentity, type LocalIdentity } from '../reporter/local-identity.js';
import { readReporterState, reporterStatePath, type ConflictingPort, type ReporterStateView, type StalledHandover } from '../reporter/state-file.js';
import { readHolds, type HeldCluster } from '../writer/holds-file.js';
import { readSyncRecord, syncFilePath, type SyncRecord } from '../writer/sync-file.js';
import { liveLockOwner } from '../lib/dir-lock.js';
import { checkAddressMismatch, checkHost } from '../reporter/check-address.js';
import type { CheckReport } from '../reporter/port-report.js';
import { assertConfigDir, daemonLockPath, loadRegistries, stateDirOf } from './common.js';
import { memberZone } from './member-zone.js';
import { CliExit, writeOut } from './output.js';

export interface StatusOptions {
  json?: boolean;
  /** ms to wait for discovery to answer */
  timeout: number;
  plugin?: string[];
  /** the daemons' --state-dir (default CONFIG_DIR/.state): the writer's removal-guard holds, the reporter's state file */
  stateDir?: string;
}

export interface MemberStatus {
  node: string;
  /** address from the discovery node; null when only HAProxy has it */
  address: string | null;
  /** listed by discovery; null: unknown, discovery did not answer */
  registered: boolean | null;
  /** HAProxy's view: UP, DOWN, MAINT, DRAIN, no check, ...; null when HAProxy does not have it */
  haproxy: string | null;
  currentSessions: number | null;
  /** not listed, but kept routed by this config dir's writer (removal guard) */
  held: boolean;
  /** the member's zone from its metadata (the cluster's zone_aware.metadata_key, default `zone`) */
  zone: string | null;
  /** HAProxy's effective weight (ramps up during slow start); null when HAProxy does not have it */
  weight: number | null;
  /** HAProxy's role: `backup` stands by until no active server is usable; null when HAProxy does not have it */
  role: 'active' | 'backup' | null;
}

export interface ClusterStatus {
  name: string;
  discovery: string;
  /** false: discovery did not answer, so who is registered is unknown (members shown are HAProxy's only) */
  answered: boolean;
  members: MemberStatus[];
  /** nodes discovery rejected as malformed */
  rejected: string[];
  /** the writer of this config dir holds removed members of this cluster */
  hold: HeldCluster | null;
  /** where its frontend listens (`127.0.0.1:8080`, `*:8080`; a meta-cluster member: the meta-cluster's); null: no haproxy section */
  listen: string | null;
  /** HAProxy routes exactly what discovery lists (held members aside); null: one of the two did not answer */
  inSync: boolean | null;
  /** zone-aware routing as the writer decides it from these members (its `zone`, the cluster's zone_aware); null when not zone-aware */
  zone: ZoneRouting | null;
}

export interface ServicePortStatus {
  port: number;
  node: string;
  /** null: unknown, discovery did not answer (never reported as "not registered") */
  registered: boolean | null;
  drained: { reason: string; since: string } | null;
  /** the running reporter yields this node to another session that keeps taking it (LH_REGISTRATION_CONFLICT) */
  conflict: ConflictingPort | null;
  /** the running reporter's view: all checks up; null when no running reporter said */
  up: boolean | null;
  /** the running reporter's last result of each check (why the port is or is not registered); null when no running reporter said */
  checks: CheckReport[] | null;
  /** the last failed registration or deregistration of the running reporter, until one succeeds */
  lastError: string | null;
}

export interface ServiceStatusReport {
  name: string;
  discovery: string;
  ports: ServicePortStatus[];
  /** the running reporter cannot move this service to a new discovery session (LH_HANDOVER_STALLED) */
  handoverStalled: StalledHandover | null;
  /** the address the checks connect to (`host:`, else the registered address) */
  checkHost: string;
  /** the address registered for it */
  registeredIp: string;
  /** LH_CHECK_ADDRESS: checks connect to loopback while another address is registered */
  checkAddressWarning: string | null;
}

export interface WriterStatus {
  /** a writer holds this config dir's writer lock */
  running: boolean;
  pid: number | null;
  /** ISO time of its last successful sync (written at most every 5 s); null: none on record */
  lastSync: string | null;
  /** ISO time syncs started failing, with the error; null while they succeed */
  failingSince: string | null;
  error: string | null;
}

export interface StatusReport {
  /** null: this config dir has no clusters (a provider-only machine) */
  writer: WriterStatus | null;
  clusters: ClusterStatus[];
  services: ServiceStatusReport[];
  /** node-wide maintenance (`lighthouse maintenance on`): every service drained; null when off */
  maintenance: Maintenance | null;
  /** the reporter's state file (stalled handovers, registration conflicts); null when there is none (nothing is wrong, or no reporter) */
  reporter: ReporterStateView | null;
  /** what could not be asked (discovery unreachable, HAProxy not answering, invalid files) */
  problems: string[];
}

/** Reads member sets through the discovery plugin (read-only: it only watches, never publishes), one session per backend. */
async function readMembers(discovery: Discovery, names: readonly string[], timeoutMs: number): Promise<Map<string, MemberSet>> {
  const sets = new Map<string, MemberSet>();
  discovery.connect();
  const watches = names.map((name) => discovery.watch(name, (set) => sets.set(name, set)));
  const deadline = Date.now() + timeoutMs;
  while (sets.size < names.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  for (const watch of watches) watch.close();
  return sets;
}

/** Everything `lighthouse status` shows, as data (the table and `--json` both come from it). */
export async function collectStatus(configDir: string, registries: PluginRegistries, timeoutMs: number, identity?: LocalIdentity, stateDir = stateDirOf(configDir, undefined)): Promise<StatusReport> {
  const scan = await new ConfigDirectory(configDir, registries).scan();
  const { snapshot } = scan;
  const problems = scan.problems.map((problem) => `${problem.file}: ${problem.setting ? `${problem.setting}: ` : ''}${problem.message}`);

  // One session per discovery backend, reading every cluster and service that uses it.
  const wanted = new Map<string, Set<string>>();
  for (const item of [...snapshot.clusters.values(), ...snapshot.services.values()]) {
    const names = wanted.get(item.discovery) ?? new Set<string>();
    names.add(item.name);
    wanted.set(item.discovery, names);
  }
  const members = new Map<string, Map<string, MemberSet>>();
  await Promise.all(
    [...wanted].map(async ([discoveryName, names]) => {
      const item: DiscoveryItem | undefined = snapshot.discovery.get(discoveryName);
      const plugin = item ? registries.discovery.get(item.plugin) : undefined;
      if (!item || !plugin) {
        problems.push(`discovery "${discoveryName}" is not in force: discovery/${discoveryName}.yaml is missing or invalid (used by ${[...names].join(', ')})`);
        return;
      }
      const discovery = plugin.create(item.config, { logger: silentLogger(), name: item.name, file: item.file, now: Date.now });
      try {
        const sets = await readMembers(discovery, [...names], timeoutMs);
        members.set(discoveryName, sets);
        const missing = [...names].filter((name) => !sets.has(name));
        if (missing.length > 0) problems.push(`${item.file}: discovery "${discoveryName}" did not answer within ${timeoutMs} ms (state ${discovery.state}) for ${missing.join(', ')}`);
      } finally {
        await discovery.close().catch(() => undefined);
      }
    }),
  );

  // HAProxy's view, from each haproxy balancer's admin socket.
  const stats = new Map<string, ServerStat>();
  // In sync is only said when a HAProxy answered: with none (no balancer file, a socket that does not answer) nobody knows.
  let haproxyAnswered = false;
  for (const balancer of snapshot.balancers.values()) {
    if (balancer.plugin !== 'haproxy') continue;
    const control = createHaproxyControl(balancer.config as HaproxyConfig);
    let answered = false;
    try {
      for (const stat of await control.serverStats()) stats.set(`${stat.proxy}/${stat.server}`, stat);
      answered = true;
      haproxyAnswered = true;
    } catch (error) {
      problems.push(`${balancer.file}: HAProxy does not answer on its admin socket: ${errorMessage(error)}`);
    } finally {
      control.close();
    }
    // HAProxy answering outranks the marker: one left by a writer killed during an outage stays until a writer sees HAProxy serve.
    const down = answered ? undefined : await readDownMarker(control.paths.down);
    if (down) problems.push(`${balancer.file}: HAProxy is down since ${down.since} (${down.attempts} failed start attempts; the writer retries with backoff): ${down.error}`);
  }

  const holds = await readHolds(stateDir);
  const writerZone = [...snapshot.balancers.values()].map((balancer) => (balancer.plugin === 'haproxy' ? (balancer.config as HaproxyConfig).zone : undefined)).find((zone) => zone !== undefined);
  const clusters: ClusterStatus[] = [...snapshot.clusters.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((item) => {
      const set = members.get(item.discovery)?.get(item.name);
      const rows = new Map<string, MemberStatus>();
      for (const node of set?.members ?? []) {
        const key = nodeKey(node);
        const stat = stats.get(`${item.name}/${key}`);
        rows.set(key, { node: key, address: `${node.ip}:${node.port}`, registered: true, haproxy: stat?.status ?? null, currentSessions: stat?.currentSessions ?? null, held: false, zone: memberZone(item, node), ...traffic(stat) });
      }
      // Servers HAProxy still has that discovery no longer lists (draining out, or a writer that is behind).
      for (const stat of stats.values()) {
        if (stat.proxy !== item.name || stat.server === 'FRONTEND' || stat.server === 'BACKEND' || rows.has(stat.server)) continue;
        rows.set(stat.server, { node: stat.server, address: stat.raw.addr ?? null, registered: set ? false : null, haproxy: stat.status, currentSessions: stat.currentSessions, held: false, zone: null, ...traffic(stat) });
      }
      const hold = holds[item.name] ?? null;
      for (const key of hold?.held ?? []) {
        const row = rows.get(key);
        if (row && row.registered !== true) row.held = true;
      }
      const sorted = [...rows.values()].sort((a, b) => a.node.localeCompare(b.node));
      // In sync: every listed member is in HAProxy, and HAProxy has nothing else but held members.
      const inSync = set === undefined || !haproxyAnswered ? null : sorted.every((member) => (member.registered ? member.haproxy !== null : member.held));
      const section = item.balancer.haproxy as HaproxyClusterConfig | undefined;
      const zone = set && section?.zone_aware ? (clusterTraffic(writerZone, section, set.members).zone ?? null) : null;
      return { name: item.name, discovery: item.discovery, answered: set !== undefined, members: sorted, rejected: set?.rejected.map((node) => `${node.znode}: ${node.reason}`) ?? [], hold, listen: listenAddress(item, snapshot.balancers.values()), inSync, zone };
    });
  const writer = snapshot.clusters.size === 0 ? null : await writerStatus(stateDir, problems);

  let drains: DrainState = emptyDrains();
  try {
    drains = await readDrains(drainFilePath(configDir));
  } catch (error) {
    problems.push(errorMessage(error));
  }
  // Only the reporter knows these; a file its writer left behind (it no longer runs) is history, not the present.
  let reporter: ReporterStateView | null = null;
  try {
    reporter = (await readReporterState(reporterStatePath(stateDir), daemonLockPath(stateDir, 'reporter'))) ?? null;
  } catch (error) {
    problems.push(errorMessage(error));
  }
  if (reporter?.stale) problems.push(`${reporter.file}: stale (${reporter.stale}); the ${reporter.stalled.length} stalled handover(s) and ${reporter.conflicts.length} registration conflict(s) it lists are from ${reporter.updated}, not current`);
  const current = reporter && !reporter.stale ? reporter : undefined;
  const services: ServiceStatusReport[] = [];
  if (snapshot.services.size > 0) {
    const local = identity ?? (await resolveLocalIdentity());
    for (const item of [...snapshot.services.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const address = advertisedAddress(local, snapshot.discovery.get(item.discovery)?.advertise, item.advertise);
      const set = members.get(item.discovery)?.get(item.name);
      const registeredKeys = set ? new Set(set.members.map(nodeKey)) : undefined;
      const drain = effectiveDrain(drains, item.name);
      services.push({
        name: item.name,
        discovery: item.discovery,
        ports: item.ports.map((port) => {
          const node = nodeKey({ host: address.host, port });
          const drained = drain && (drain.ports === 'all' || drain.ports.includes(port)) ? { reason: drain.reason, since: drain.since } : null;
          const conflict = current?.conflicts.find((entry) => entry.service === item.name && entry.port === port) ?? null;
          const seen = current?.ports?.find((entry) => entry.service === item.name && entry.port === port);
          return { port, node, registered: registeredKeys ? registeredKeys.has(node) : null, drained, conflict, up: seen?.up ?? null, checks: seen?.checks ?? null, lastError: seen?.lastError ?? null };
        }),
        handoverStalled: current?.stalled.find((entry) => entry.service === item.name) ?? null,
        checkHost: checkHost(item, address),
        registeredIp: address.ip,
        checkAddressWarning: checkAddressMismatch(item, address) ?? null,
      });
    }
  }
  return { writer, clusters, services, maintenance: drains.maintenance ?? null, reporter, problems };
}

/** Where a cluster's frontend listens, from its haproxy section (or its meta-cluster's) and the balancer's bind_address. */
function listenAddress(item: ClusterItem, balancers: Iterable<BalancerItem>): string | null {
  const section = item.balancer.haproxy as { port?: number } | undefined;
  if (!section) return null;
  for (const balancer of balancers) {
    if (balancer.plugin !== 'haproxy') continue;
    const config = balancer.config as HaproxyConfig;
    const port = section.port ?? (item.metaCluster ? config.meta_clusters[item.metaCluster]?.port : undefined);
    if (port !== undefined) return `${config.bind_address ?? '*'}:${port}${section.port === undefined ? ` (meta-cluster ${item.metaCluster})` : ''}`;
  }
  return section.port === undefined ? null : `*:${section.port}`;
}

/** Whether this config dir's writer runs (its lock) and when it last synced (its sync record, also after it stopped); a record not ours is a problem. */
async function writerStatus(stateDir: string, problems: string[]): Promise<WriterStatus> {
  const owner = await liveLockOwner(daemonLockPath(stateDir, 'writer'));
  let record: SyncRecord | undefined;
  try {
    record = await readSyncRecord(syncFilePath(stateDir));
  } catch (error) {
    problems.push(errorMessage(error));
  }
  const status: WriterStatus = { running: owner !== undefined, pid: owner?.pid ?? null, lastSync: record?.lastSync ?? null, failingSince: record?.failingSince ?? null, error: record?.error ?? null };
  return status;
}

function writerLine(writer: WriterStatus): string {
  const last = writer.lastSync ? `last sync ${writer.lastSync} (${ago(writer.lastSync)})` : 'no sync on record';
  // Not a `problem` (those are what status could not ask): the line says it, first.
  if (!writer.running) return `writer: NOT RUNNING (no writer holds its lock): HAProxy keeps the members of its last sync; ${last}`;
  if (writer.failingSince) return `writer: running (PID ${writer.pid}), NOT IN SYNC: syncs failing since ${writer.failingSince}: ${writer.error ?? ''}; ${last}`;
  return `writer: running (PID ${writer.pid}), ${last}`;
}

function ago(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120 ? `${seconds} s ago` : seconds < 7200 ? `${Math.round(seconds / 60)} min ago` : `${Math.round(seconds / 3600)} h ago`;
}

/** Why a port is where it is, from the running reporter: each check that is not passing, and a failed registration. */
function portReasons(port: ServicePortStatus): string[] {
  const lines: string[] = [];
  for (const check of port.checks ?? []) {
    if (check.passed === null) lines.push(`port ${port.port}: check ${check.kind}: no result yet`);
    else if (!check.passed || !check.up) lines.push(`port ${port.port}: check ${check.kind} ${check.passed ? 'passes again, not up yet' : 'FAILS'}${check.since ? ` since ${check.since}` : ''}: ${check.detail ?? ''}`);
  }
  if (port.lastError) lines.push(`port ${port.port}: last registration attempt failed: ${port.lastError}`);
  return lines;
}

function stallLine(stall: StalledHandover): string {
  return `handover stalled (LH_HANDOVER_STALLED): service ${stall.service} cannot move to the new session of ${stall.file} (discovery ${stall.discovery}, ${stall.session}) since ${stall.since}; the previous session keeps the registrations`;
}

function conflictLine(conflict: ConflictingPort): string {
  const holder = `session ${conflict.holder.session}${conflict.holder.host ? ` (${conflict.holder.host}${conflict.holder.ip ? ` ${conflict.holder.ip}` : ''})` : ''}`;
  return `registration conflict (LH_REGISTRATION_CONFLICT): service ${conflict.service} port ${conflict.port}: ${conflict.node} is held by another ${holder} since ${conflict.since}; this reporter (session ${conflict.session ?? 'unknown'}) yields it`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => `  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()}`).join('\n');
}

/** HAProxy's weight and role of a server, null when it does not have it. */
function traffic(stat: ServerStat | undefined): Pick<MemberStatus, 'weight' | 'role'> {
  if (!stat) return { weight: null, role: null };
  return { weight: stat.weight ?? null, role: stat.backup ? 'backup' : 'active' };
}

/** `stateDir`: the writer's --state-dir given to status, repeated in the release command it suggests. */
export function formatStatus(report: StatusReport, options: { stateDir?: string } = {}): string {
  const out: string[] = [];
  // What could not be asked comes first: the tables below are partial without it.
  for (const problem of report.problems) out.push(`problem: ${problem}`);
  if (report.problems.length > 0) out.push('');
  if (report.writer) out.push(writerLine(report.writer), '');
  for (const cluster of report.clusters) {
    const registered = cluster.answered ? `${cluster.members.filter((member) => member.registered).length} registered` : 'registered: unknown (discovery did not answer)';
    const sync = cluster.inSync === null ? '' : cluster.inSync ? ', HAProxy in line' : ', HAProxy DIFFERS from discovery';
    out.push(`cluster ${cluster.name} (discovery ${cluster.discovery}${cluster.listen ? `, listens on ${cluster.listen}` : ''}): ${registered}${sync}`);
    if (cluster.hold) {
      out.push(
        `  HELD since ${cluster.hold.since}: discovery listed ${cluster.hold.listed}, below the floor of ${cluster.hold.floor} (${cluster.hold.reference} listed recently); ${cluster.hold.held.length} members kept routed (release: lighthouse release-hold CONFIG_DIR ${cluster.name}${options.stateDir === undefined ? '' : ` --state-dir ${options.stateDir}`})`,
      );
    }
    if (cluster.zone) {
      const { zone, sameZone, members, spilled } = cluster.zone;
      out.push(`  zone ${zone}: ${sameZone} of ${members} members; ${spilled ? 'SPILLED OVER: too few here, every member serves' : 'other zones stand by as backups'}`);
    }
    if (cluster.members.length === 0) out.push(cluster.answered ? '  (no members)' : '  (none in HAProxy)');
    else
      out.push(
        table([
          ['NODE', 'ADDRESS', 'DISCOVERY', 'HAPROXY', 'SESSIONS', 'ZONE', 'WEIGHT', 'ROLE'],
          ...cluster.members.map((member) => [
            member.node,
            member.address ?? '-',
            member.registered === null ? 'unknown' : member.registered ? 'listed' : member.held ? 'not listed (held)' : 'not listed',
            member.haproxy ?? 'absent',
            member.currentSessions === null ? '-' : String(member.currentSessions),
            member.zone ?? '-',
            member.weight === null ? '-' : String(member.weight),
            member.role ?? '-',
          ]),
        ]),
      );
    for (const rejected of cluster.rejected) out.push(`  rejected: ${rejected}`);
    out.push('');
  }
  if (report.maintenance) out.push(`MAINTENANCE since ${report.maintenance.since}: ${report.maintenance.reason}; every service of this machine is drained (end: lighthouse maintenance CONFIG_DIR off)`, '');
  for (const service of report.services) {
    out.push(`service ${service.name} (discovery ${service.discovery})`);
    out.push(
      table([
        ['PORT', 'NODE', 'REGISTERED', 'DRAINED'],
        // In a conflict the node is registered, by the other session: neither yes nor no.
        ...service.ports.map((port) => [String(port.port), port.node, port.conflict ? 'conflict' : port.registered === null ? 'unknown' : port.registered ? 'yes' : 'no', port.drained ? `yes: ${port.drained.reason} (since ${port.drained.since})` : 'no']),
      ]),
    );
    if (service.checkAddressWarning) out.push(`  warning (LH_CHECK_ADDRESS): ${service.checkAddressWarning}`);
    for (const port of service.ports) for (const line of portReasons(port)) out.push(`  ${line}`);
    if (report.reporter === null || report.reporter.stale) out.push(`  (no running reporter on this config dir: check results unknown)`);
    if (service.handoverStalled) out.push(`  ${stallLine(service.handoverStalled)}`);
    for (const port of service.ports) if (port.conflict) out.push(`  ${conflictLine(port.conflict)}`);
    out.push('');
  }
  // What the reporter reports about services or ports this config no longer has (edited since).
  if (report.reporter && !report.reporter.stale) {
    const shown = new Set(report.services.map((service) => service.name));
    for (const stall of report.reporter.stalled) if (!shown.has(stall.service)) out.push(`reporter: ${stallLine(stall)}`);
    for (const conflict of report.reporter.conflicts) {
      if (!report.services.some((service) => service.ports.some((port) => port.conflict === conflict))) out.push(`reporter: ${conflictLine(conflict)}`);
    }
  }
  if (report.clusters.length === 0 && report.services.length === 0) out.push('no clusters or services configured');
  return `${out.join('\n').trimEnd()}\n`;
}

export async function runStatus(configDir: string, options: StatusOptions): Promise<void> {
  await assertConfigDir(configDir);
  const registries = await loadRegistries(configDir, options.plugin ?? [], silentLogger());
  const report = await collectStatus(configDir, registries, options.timeout, undefined, stateDirOf(configDir, options.stateDir));
  await writeOut(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report, { stateDir: options.stateDir }));
  // Scripts can tell "everything could be asked and nothing is stuck" from the rest.
  const stuck = report.reporter !== null && !report.reporter.stale && (report.reporter.stalled.length > 0 || report.reporter.conflicts.length > 0);
  throw new CliExit(report.problems.length > 0 || stuck ? 1 : 0);
}
