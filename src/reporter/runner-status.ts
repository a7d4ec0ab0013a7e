/** What a service runner reports about itself: to `status`, metrics and the daemon. */
import type { RegistrationHolder } from '../discovery/types.js';

/** The outcome of one run of one check, as `status` and metrics see it. */
export interface CheckResult {
  passed: boolean;
  detail: string;
  durationMs: number;
  /** wall-clock time the run finished (ms since epoch) */
  at: number;
  /** the run was aborted at the check's timeout */
  timedOut?: boolean;
}

export interface CheckStatus {
  kind: string;
  /** this check's rise/fall verdict */
  up: boolean;
  /** current streaks */
  passes: number;
  fails: number;
  rise: number;
  fall: number;
  /** a run is in progress */
  running: boolean;
  last: CheckResult | null;
}

export interface PortStatus {
  port: number;
  /** all checks are up */
  up: boolean;
  /** the backend holds our registration, as far as this runner knows (last write succeeded, nothing since says otherwise) */
  registered: boolean;
  /** drain reason, or null */
  drained: string | null;
  /** `host:port` of the node this port registers as */
  node: string;
  /** last failed publish/unpublish, cleared by the next success */
  lastError: string | null;
  /** another session keeps taking this registration: this runner stopped taking it back (see registration-conflict.ts) */
  conflict: PortConflict | null;
  checks: CheckStatus[];
}

export interface PortConflict {
  /** the session (ZooKeeper) or lease (etcd) holding the registration, and the host it wrote */
  holder: RegistrationHolder;
  /** this runner's own session or lease */
  session: string | null;
  /** wall-clock time the conflict was detected */
  since: number;
}

export interface ConflictEvent {
  service: string;
  port: number;
  node: string;
  /** true: detected, the runner yields; false: over (the other's registration went, or a new session) */
  conflict: boolean;
}

export interface ServiceStatus {
  service: string;
  discovery: string;
  phase: RunnerPhase;
  ports: PortStatus[];
  /** while this runner takes the service over from the previous one (a new discovery session) */
  handover?: HandoverStatus;
}

export interface HandoverStatus {
  /** wall-clock start (ms since epoch) */
  since: number;
  /** past its deadline: the new session has not registered every port the old one holds */
  stalled: boolean;
  /** the discovery file of the new session */
  file: string;
  /** ports the old session holds and the new one does not yet */
  pendingPorts: number[];
  /** the runner whose registrations are in force until the handover finishes */
  from: ServiceStatus;
}

export interface CheckResultEvent extends CheckResult {
  service: string;
  port: number;
  check: string;
  /** the check's rise/fall verdict after this result */
  up: boolean;
}

export interface TransitionEvent {
  service: string;
  port: number;
  up: boolean;
  at: number;
  /** the check result that caused it, or what else did (a config change) */
  cause: string;
}

export interface RegistrationEvent {
  service: string;
  port: number;
  /** `host:port` */
  node: string;
  action: 'publish' | 'unpublish';
  ok: boolean;
  error?: string;
  at: number;
}

export type RunnerPhase = 'new' | 'running' | 'stopping' | 'stopped';
