import type { Logger } from '../../lib/logger.js';
import type { ClusterNode } from '../node.js';
import type { ClusterWatch, Discovery, DiscoveryEvents, MemberSet, RecordStore, SessionState } from '../types.js';
import { EtcdConnection } from './client.js';
import { EtcdClusterWatcher } from './cluster-watch.js';
import { HistoryNotice } from './history-notice.js';
import { clusterPrefix } from './keys.js';
import { EtcdRecords } from './records.js';
import { EtcdRegistrar } from './registrar.js';
import { acksPrefixOf, type EtcdConfig } from './schema.js';
import { LeaseSession } from './session.js';

/**
 * One etcd discovery backend: a lease session for the reporter's
 * registrations and a watch per cluster for the writer, over one gRPC
 * connection pool. The contract is the ZooKeeper plugin's: whole member sets,
 * nothing reported while etcd is unreachable, `onSession` for every new
 * lease, `onLost` when someone else removes a registration.
 */
export class EtcdDiscovery implements Discovery {
  readonly connection: EtcdConnection;
  readonly session: LeaseSession;
  readonly acks: RecordStore;
  private readonly registrar: EtcdRegistrar;
  private readonly watches = new Set<EtcdClusterWatcher>();
  private readonly historyNotice: HistoryNotice;
  private events: DiscoveryEvents = {};
  private started = false;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly config: EtcdConfig,
    file: string,
    private readonly logger: Logger,
  ) {
    this.connection = new EtcdConnection(config, file);
    this.historyNotice = new HistoryNotice(logger);
    this.session = new LeaseSession({ connection: this.connection, ttlSeconds: config.lease_ttl, probeKey: config.prefix, logger });
    this.registrar = new EtcdRegistrar({
      connection: this.connection,
      session: this.session,
      prefix: config.prefix,
      logger,
      onLost: (service, key, holder) => this.events.onLost?.(service, key, holder),
    });
    this.acks = new EtcdRecords(this.connection, this.session, acksPrefixOf(config));
    this.session.onState((state) => this.events.onStateChange?.(state));
    this.session.onLease((leaseId) => this.events.onSession?.(leaseId));
  }

  get state(): SessionState {
    return this.session.state;
  }

  connect(events: DiscoveryEvents = {}): void {
    this.events = events;
    if (this.started || this.closed) return;
    this.started = true;
    this.logger.info({ endpoints: this.config.endpoints, prefix: this.config.prefix }, `connecting to etcd ${this.config.endpoints.join(',')}`);
    this.session.start();
  }

  watch(cluster: string, onMembers: (set: MemberSet) => void): ClusterWatch {
    const watcher = new EtcdClusterWatcher({
      connection: this.connection,
      folder: clusterPrefix(this.config.prefix, cluster),
      cluster,
      onMembers,
      logger: this.logger,
      historyNotice: this.historyNotice,
    });
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

  /** Revokes the lease (registrations vanish at once, not after the TTL) and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watcher of this.watches) watcher.close();
    this.watches.clear();
    this.registrar.close();
    await this.session.close();
    this.connection.close();
  }
}
