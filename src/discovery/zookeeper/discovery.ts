import type { Logger } from '../../lib/logger.js';
import type { ClusterNode } from '../node.js';
import type { ClusterWatch, Discovery, DiscoveryEvents, MemberSet, RecordStore, SessionState } from '../types.js';
import type { DigestCredentials } from './acl.js';
import { ClusterWatcher } from './cluster-watch.js';
import { Registrar } from './registrar.js';
import { ZkRecords } from './records.js';
import { acksPathOf, type ZookeeperConfig } from './schema.js';
import { ZkSession, type SessionStats } from './session.js';

/**
 * One ZooKeeper discovery backend: a session, the cluster watches of the
 * writer and the registrations of the reporter, all on the same session.
 */
export class ZookeeperDiscovery implements Discovery {
  readonly session: ZkSession;
  readonly acks: RecordStore;
  private readonly registrar: Registrar;
  private readonly watches = new Set<ClusterWatcher>();
  private events: DiscoveryEvents = {};
  private started = false;

  constructor(
    readonly name: string,
    private readonly config: ZookeeperConfig,
    credentials: DigestCredentials | undefined,
    private readonly logger: Logger,
  ) {
    const sessionTimeoutMs = config.session_timeout_ms;
    this.session = new ZkSession({
      hosts: config.hosts,
      sessionTimeoutMs,
      // Default: a stalled attempt is abandoned early enough to try other servers before the session expires.
      connectTimeoutMs: config.connect_timeout_ms ?? Math.max(250, Math.floor(sessionTimeoutMs / 3)),
      operationTimeoutMs: config.operation_timeout_ms,
      credentials,
      logger,
    });
    this.registrar = new Registrar({
      session: this.session,
      basePath: config.path,
      credentials,
      logger,
      onLost: (service, key, holder) => this.events.onLost?.(service, key, holder),
    });
    this.acks = new ZkRecords(this.session, acksPathOf(config), credentials);
    this.session.onState((state) => this.events.onStateChange?.(state));
    this.session.onReady(({ sessionId, fresh }) => {
      if (fresh) this.events.onSession?.(sessionId);
    });
  }

  get state(): SessionState {
    return this.session.state;
  }

  /** Counters for metrics and tests (probes are requests too). */
  get stats(): SessionStats {
    return this.session.stats;
  }

  connect(events: DiscoveryEvents = {}): void {
    this.events = events;
    if (this.started) return;
    this.started = true;
    this.logger.info({ hosts: this.config.hosts, path: this.config.path }, `connecting to ZooKeeper ${this.config.hosts.join(',')}`);
    this.session.start();
  }

  watch(cluster: string, onMembers: (set: MemberSet) => void): ClusterWatch {
    const watcher = new ClusterWatcher({ session: this.session, basePath: this.config.path, cluster, onMembers, logger: this.logger });
    this.watches.add(watcher);
    return {
      close: () => {
        watcher.close();
        this.watches.delete(watcher);
      },
    };
  }

  publish(service: string, node: ClusterNode): Promise<void> {
    return this.registrar.publish(service, node);
  }

  unpublish(service: string, node: Pick<ClusterNode, 'host' | 'port'>): Promise<void> {
    return this.registrar.unpublish(service, node);
  }

  isPublished(service: string, node: ClusterNode): Promise<boolean> {
    return this.registrar.isPublished(service, node);
  }

  async close(): Promise<void> {
    for (const watcher of this.watches) watcher.close();
    this.watches.clear();
    await this.session.close();
  }
}
