import type { ZoneRouting } from '../balancer/haproxy/traffic.js';
import type { Maintenance } from '../reporter/drains.js';
import type { CheckReport } from '../reporter/port-report.js';
import type { ConflictingPort, ReporterStateView, StalledHandover } from '../reporter/state-file.js';
import type { HeldCluster } from '../writer/holds-file.js';

// The model `lighthouse status` collects and prints; `--json` prints it as it is (docs/running.md).

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

