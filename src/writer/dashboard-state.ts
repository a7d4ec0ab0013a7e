/*
 * The shape of the writer dashboard's `/api/state` (served by
 * src/cli/dashboard.ts). Kept here, below the CLI, because the demo reads it
 * too, and the demo sits below the CLI that starts it.
 */

/** One member as the dashboard shows it: discovery's view plus HAProxy's. */
export interface DashboardMember {
  node: string;
  ip: string;
  port: number;
  /** HAProxy's status of the server (UP, DOWN, MAINT, DRAIN, no check, ...), null when HAProxy does not list it (yet) */
  status: string | null;
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

export interface DashboardCluster {
  name: string;
  metaCluster: string | null;
  revision: number;
  updatedAt: number | null;
  members: DashboardMember[];
  rejected: number;
  /** a removal-guard hold: members listed, the recent count it is measured against, and the floor */
  hold: { listed: number; reference: number; floor: number; since: number } | null;
}

export interface DashboardChange {
  at: number;
  cluster: string;
  change: 'added' | 'removed';
  node: string;
}

export interface DashboardState {
  at: number;
  ready: boolean;
  clusters: DashboardCluster[];
  /** newest first */
  changes: DashboardChange[];
  /** per balancer; null where HAProxy could not be asked */
  balancers: { name: string; counters: Record<string, number>; error: string | null }[];
}
