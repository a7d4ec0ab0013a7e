import type { ClusterNode } from '../discovery/node.js';

/** A consumed cluster as the balancer sees it: its config and its current members. */
export interface BalancedCluster<ClusterConfig = unknown> {
  name: string;
  /** the cluster file's `meta_cluster` */
  metaCluster: string | undefined;
  /** the cluster file's section for this balancer kind (e.g. `haproxy:`), validated by the plugin */
  config: ClusterConfig;
  members: readonly ClusterNode[];
}

export interface RenderedBalancerConfig {
  /** the file the balancer reads (e.g. HAProxy's config_file) */
  file: string;
  text: string;
}

export interface BalancerProblem {
  /** what the problem is about: a cluster, a setting, or the balancer itself */
  subject: string;
  message: string;
}

/** One server as the balancer itself reports it (e.g. HAProxy's `show stat`). */
export interface BalancerServerStat {
  /** the balancer's group of servers (for HAProxy: the backend, named after the cluster) */
  proxy: string;
  /** the server's name (for HAProxy: `host:port`, the node's name) */
  server: string;
  /** the balancer's own word for the server's state (HAProxy: UP, DOWN, MAINT, DRAIN, no check, ...) */
  status: string;
  currentSessions: number;
  totalSessions: number;
  /** its weight as the balancer applies it now (HAProxy: the effective weight, ramping during slow start); absent when the balancer has none */
  weight?: number;
  /** a standby server, used only when no active one is usable (HAProxy `backup`); absent when the balancer has none */
  backup?: boolean;
  /** what the balancer's own health check last said (HAProxy: `L4CON Connection refused`); absent without checks */
  check?: string;
}

/** Where the balancer serves a cluster to its consumers. */
export interface BalancerFrontend {
  /** the listening address; null: every address of the machine */
  address: string | null;
  port: number;
  /** shared with other clusters (HAProxy: a meta-cluster's frontend and the cluster's acl there), null for its own */
  via: string | null;
}

/** The balancer's own status page (HAProxy: the `stats:` listener). */
export interface BalancerStatusPage {
  /** null: every address of the machine */
  address: string | null;
  port: number;
  path: string;
  /** the page asks for a password (never given here) */
  authenticated: boolean;
}

/**
 * What a balancer tells the dashboard and metrics about itself, without them
 * knowing which balancer it is.
 */
export interface BalancerStats {
  /**
   * Counters that only grow, by name: a live read-only view (copy it to keep
   * a snapshot). Metrics export the names they know.
   */
  readonly counters: Readonly<Record<string, number>>;
  /** the balancer serves, as far as the plugin knows */
  readonly up: boolean;
  /** every server as the balancer reports it; may ask the balancer (the plugin caches), rejects when it cannot answer */
  servers(): Promise<BalancerServerStat[]>;
  /** each cluster's frontend as of the last sync, by cluster name; absent when the balancer has no such notion */
  frontends?(): ReadonlyMap<string, BalancerFrontend>;
  /** its own status page, null when none is configured; absent when the balancer has none */
  readonly statusPage?: BalancerStatusPage | null;
}

/**
 * A local load balancer. The writer calls `sync` serially (never two at once)
 * with the whole desired state; the balancer decides how to get there
 * (runtime API, reload, start) and must leave the old state serving if it cannot.
 */
export interface Balancer<ClusterConfig = unknown> {
  sync(clusters: readonly BalancedCluster<ClusterConfig>[]): Promise<void>;
  /** Checks the desired state without applying it (for `check-config`). */
  validate(clusters: readonly BalancedCluster<ClusterConfig>[]): Promise<BalancerProblem[]>;
  /** The balancer's own config for the desired state, as it would be written, and where (for `config-dump`); optional for plugins. */
  render?(clusters: readonly BalancedCluster<ClusterConfig>[]): RenderedBalancerConfig;
  /**
   * Counters, up/down and per-server stats for the dashboard and metrics; null
   * (or no method: plugins written before it) when the balancer has none.
   */
  stats?(): BalancerStats | null;
  /** Stops managing the balancer; the balancer itself keeps serving. */
  close(): Promise<void>;
  /**
   * Servers out of routing that still have sessions, read fresh (not from a
   * cache older than the last sync): what writer acknowledgements report as
   * draining. Optional: a balancer without it reports nothing draining.
   */
  drainingSessions?(): Promise<DrainingServer[]>;
}

/** A server taken out of routing (removed, or in maintenance) that still has sessions. */
export interface DrainingServer {
  /** the cluster (HAProxy backend) */
  cluster: string;
  /** host:port */
  server: string;
  sessions: number;
}
