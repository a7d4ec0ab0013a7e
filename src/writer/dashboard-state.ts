/*
 * The shape of the writer dashboard's `/api/state` and `/api/history`
 * (served by src/cli/dashboard.ts). Kept here, below the CLI, because the
 * demo reads it too, and the demo sits below the CLI that starts it.
 * Times are ISO 8601 strings in UTC (`...Z`); the page shows them in the
 * browser's zone with its offset.
 */

/**
 * What the balancer says of a member's health. `unknown`: it does not check
 * it (HAProxy `no check`: it routes to it, but nobody on this machine knows
 * whether it answers) or does not list it yet.
 */
export type MemberHealth = 'up' | 'down' | 'maintenance' | 'draining' | 'unknown';

/** One member as the dashboard shows it: discovery's view plus HAProxy's. */
export interface DashboardMember {
  node: string;
  ip: string;
  port: number;
  /** HAProxy's status of the server (UP, DOWN, MAINT, DRAIN, no check, ...), null when HAProxy does not list it (yet) */
  status: string | null;
  health: MemberHealth;
  /** HAProxy's last health check (`L4CON Connection refused`), null without checks */
  check: string | null;
  currentSessions: number | null;
  totalSessions: number | null;
  /** no longer listed by discovery, kept routed by the removal guard */
  held: boolean;
  /** the member's zone from its metadata (zone_aware.metadata_key, default `zone`) */
  zone: string | null;
  /** the balancer's effective weight (ramps up during slow start), null when it does not list the member or has no weights */
  weight: number | null;
  /** `backup`: stands by until no active server is usable; null when the balancer does not list the member */
  role: 'active' | 'backup' | null;
}

/** Where consumers reach the cluster on this machine. */
export interface DashboardFrontend {
  balancer: string;
  /** null: every address */
  address: string | null;
  port: number;
  /** a shared frontend (a meta-cluster's), null for the cluster's own */
  via: string | null;
}

export interface DashboardCluster {
  name: string;
  metaCluster: string | null;
  revision: number;
  updatedAt: string | null;
  /** null: no balancer serves it on a port of its own or through a meta-cluster (backend only) */
  frontend: DashboardFrontend | null;
  members: DashboardMember[];
  rejected: number;
  /** a removal-guard hold: members listed, the recent count it is measured against, and the floor */
  hold: { listed: number; reference: number; floor: number; since: string } | null;
}

/**
 * added / removed: the routed members changed; held: discovery dropped it and
 * the removal guard keeps it routed; listed: a held member is listed again;
 * health: the balancer's view of it changed (its own health check).
 */
export type DashboardChangeKind = 'added' | 'removed' | 'held' | 'listed' | 'health';

export interface DashboardChange {
  at: string;
  cluster: string;
  change: DashboardChangeKind;
  node: string;
  /** why, as far as the writer knows it */
  reason: string;
}

export interface DashboardBalancer {
  name: string;
  counters: Record<string, number>;
  /** why the balancer could not be asked for its servers, null when it answered */
  error: string | null;
  /** it says where it serves each cluster (a plugin may not: then a cluster's frontend is unknown, not absent) */
  reportsFrontends: boolean;
  /** its own status page, null when none is configured */
  statusPage: { address: string | null; port: number; path: string; authenticated: boolean } | null;
}

export interface DashboardState {
  at: string;
  ready: boolean;
  clusters: DashboardCluster[];
  /** newest first */
  changes: DashboardChange[];
  balancers: DashboardBalancer[];
}

/** One point of a cluster's history. */
export interface HistoryPoint {
  at: string;
  /** members routed (listed plus held) */
  members: number;
  held: number;
  /** members the balancer reports up */
  up: number;
  /** sessions the balancer sent to the cluster's servers since the point before */
  requests: number;
}

export interface DashboardHistory {
  at: string;
  /** how often the writer samples */
  intervalSeconds: number;
  /** how far back the points reach at most */
  spanSeconds: number;
  clusters: Record<string, HistoryPoint[]>;
}
