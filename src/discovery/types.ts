import type { ClusterNode } from './node.js';

/** Session state as the daemons and metrics see it, whatever the backend. */
export type SessionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

/**
 * What a discovery backend reports for one watched cluster: the whole member
 * set (already decoded; nodes that failed to decode are in `rejected`).
 * The core, not the plugin, decides what to do with it (dedupe, keep last
 * known members on outage, revisions).
 */
export interface MemberSet {
  cluster: string;
  members: readonly ClusterNode[];
  rejected: readonly RejectedNode[];
  /**
   * Where the backend's history stood when this set was read, comparable
   * across processes watching the same cluster (ZooKeeper: the newest zxid
   * that touched the folder's children, etcd: a revision); decimal. Writers
   * acknowledge it (docs/fleet-safety.md). Absent from plugins that have none.
   */
  version?: string;
}

export interface RejectedNode {
  /** full path or key of the node, for the log */
  znode: string;
  reason: string;
}

export interface ClusterWatch {
  /** Stops watching; no further callbacks after this returns. */
  close(): void;
}

export interface DiscoveryEvents {
  /** A (new) session exists: registrations must be (re)made. Fires for the first session too. */
  onSession?(sessionId: string): void;
  onStateChange?(state: SessionState): void;
  /**
   * A registration made by `publish` disappeared (deleted by someone else, or
   * taken over by another session) while it was still published. The plugin
   * does not re-create it on its own: the reporter decides (and rate-limits).
   * Not fired for session loss: `onSession` covers that. `holder` is who
   * holds it now when another session took it over (absent when deleted).
   */
  onLost?(service: string, key: string, holder?: RegistrationHolder): void;
}

/** Another session (ZooKeeper) or lease (etcd) that holds one of our registrations. */
export interface RegistrationHolder {
  /** its ZooKeeper session id or etcd lease id (hex / decimal, as the backend shows it) */
  session: string;
  /** `host` and `ip` from the node it wrote, when it decodes */
  host?: string;
  ip?: string;
}

/**
 * Small records one process keeps in the backend while its session lives
 * (ZooKeeper: ephemeral znodes, etcd: keys on the session's lease), all in
 * one folder of the backend: the writers' acknowledgements.
 */
export interface RecordStore {
  /** where the records are, for messages */
  readonly location: string;
  /** Creates or replaces this session's record `name`; one write when it is ours already. */
  publish(name: string, data: string): Promise<void>;
  /** Every record in the folder, by name (the folder missing: none). Rejects when the backend does not answer. */
  read(): Promise<Map<string, string>>;
  /**
   * `listener(name)` when a record this session wrote was deleted by someone
   * else (an operator clearing the folder): the writer writes it again at
   * once instead of staying invisible to drain --wait until its next change.
   */
  onLost?(listener: (name: string) => void): void;
}

/**
 * A discovery backend instance (one per `discovery/*.yaml` file per daemon).
 * The writer uses `watch`; the reporter uses `publish`/`unpublish`/`isPublished`.
 */
export interface Discovery {
  readonly name: string;
  readonly state: SessionState;

  /** Starts connecting in the background; never throws because the backend is unreachable. */
  connect(events?: DiscoveryEvents): void;

  /**
   * Watches one cluster. `onMembers` is called with the whole member set
   * each time it changes, including when the cluster's folder appears later.
   * While the backend is unreachable it is simply not called.
   */
  watch(cluster: string, onMembers: (set: MemberSet) => void): ClusterWatch;

  /**
   * Creates or updates this machine's ephemeral registration of `node` under
   * `service`. Idempotent. A registration left by a previous session of this
   * machine is taken over.
   */
  publish(service: string, node: ClusterNode): Promise<void>;

  /** Removes the registration; resolves when it is gone (or never existed). */
  unpublish(service: string, node: Pick<ClusterNode, 'host' | 'port'>): Promise<void>;

  /** True when the backend holds a registration of `node` by the current session with the same data. */
  isPublished(service: string, node: ClusterNode): Promise<boolean>;

  /** Closes the session; ephemeral registrations disappear with it. */
  close(): Promise<void>;

  /** The writers' acknowledgement records; absent when the plugin keeps none. */
  readonly acks?: RecordStore;
}
