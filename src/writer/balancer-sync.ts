import type { BalancedCluster, Balancer } from '../balancer/types.js';
import type { BalancerItem } from '../config/model.js';
import { diffItems, type ConfigSnapshot } from '../config/snapshot.js';
import { Backoff } from '../lib/backoff.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { WriterMetrics } from '../lib/metrics.js';
import type { PluginRegistries } from '../plugins/registry.js';
import type { AppliedCluster } from './ack-publisher.js';
import type { ClusterStateStore } from './cluster-state.js';

interface ActiveBalancer {
  item: BalancerItem;
  instance: Balancer;
}

export interface BalancerSyncOptions {
  registries: PluginRegistries;
  logger: Logger;
  metrics: WriterMetrics;
  state: ClusterStateStore;
  /** the config in force: its clusters are what every balancer gets */
  snapshot: () => ConfigSnapshot;
  /** a failed sync asks for another one after a backoff (through the writer's startup gate and quiescence) */
  retry: () => void;
  /** a sync applied member changes that arrived since the last one */
  applied: () => void;
  /** every sync's outcome (with at least one balancer): null when it worked, else what failed */
  outcome?: (error: string | null) => void;
  /** before each sync: what it hands the balancers, acknowledged once every one took it (writer acknowledgements) */
  capture?: () => AppliedCluster[];
  /** after a sync every balancer took (and there is at least one): what `capture` returned before it */
  synced?: (clusters: AppliedCluster[]) => void;
}

/**
 * The balancers the writer drives: created, replaced and closed as their
 * files change, and synced one at a time with the whole cluster state.
 * A request during a sync runs once more afterwards with the latest state;
 * a failed sync is retried with backoff.
 */
export class BalancerSync {
  private readonly balancers = new Map<string, ActiveBalancer>();
  private readonly retryBackoff = new Backoff(500, 30_000);
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** arrival time of the oldest member set not yet applied, for the convergence histogram */
  private pendingSince: number | undefined;
  private firstSyncDone = false;
  private stopped = false;
  /** listeners told after each successful sync (status pages, tests) */
  private readonly syncListeners = new Set<() => void>();

  constructor(private readonly options: BalancerSyncOptions) {}

  /** True once every balancer has been synced at least once. */
  get ready(): boolean {
    return this.firstSyncDone;
  }

  /** A sync runs, waits, or is to be retried: what the balancers run may be older than the cluster state. */
  get busy(): boolean {
    return this.syncing !== undefined || this.pendingSince !== undefined || this.retryTimer !== undefined;
  }

  get size(): number {
    return this.balancers.size;
  }

  get(name: string): Balancer | undefined {
    return this.balancers.get(name)?.instance;
  }

  names(): string[] {
    return [...this.balancers.keys()].sort();
  }

  onSynced(listener: () => void): () => void {
    this.syncListeners.add(listener);
    return () => this.syncListeners.delete(listener);
  }

  /** A member change waits to be applied (the convergence histogram measures from the first). */
  pending(): void {
    this.pendingSince ??= performance.now();
  }

  reconcile(previous: ConfigSnapshot, next: ConfigSnapshot): void {
    const { registries, logger } = this.options;
    const diff = diffItems(previous.balancers, next.balancers);
    for (const item of [...diff.removed, ...diff.changed.map(([before]) => before)]) {
      const active = this.balancers.get(item.name);
      this.balancers.delete(item.name);
      // Closing stops managing; the load balancer itself keeps serving.
      void active?.instance.close().catch((error: unknown) => logger.warn({ err: error }, `closing balancer "${item.name}" failed`));
    }
    for (const item of [...diff.added, ...diff.changed.map(([, after]) => after)]) {
      const plugin = registries.balancers.get(item.plugin);
      if (!plugin) continue;
      try {
        const instance = plugin.create(item.config, { logger: logger.child({ module: `balancer:${item.name}` }), name: item.name, file: item.file, now: Date.now });
        this.balancers.set(item.name, { item, instance });
        logger.info({ balancer: item.name }, diff.added.includes(item) ? 'balancer configured' : 'balancer settings changed');
      } catch (error) {
        logger.error({ err: error, file: item.file }, `${item.file}: cannot set up balancer "${item.name}": ${errorMessage(error)}`);
      }
    }
  }

  /** Runs syncs one at a time; a request during a sync runs once more afterwards with the latest state. */
  sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        await this.syncOnce();
      } while (this.syncAgain && !this.stopped);
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  /** No new sync or retry starts; `settled` then waits for the one running. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  async settled(): Promise<void> {
    await this.syncing;
  }

  /** Stops managing every balancer; the load balancers keep serving. */
  async close(): Promise<void> {
    await Promise.all([...this.balancers.values()].map((active) => active.instance.close().catch(() => undefined)));
    this.balancers.clear();
  }

  private async syncOnce(): Promise<void> {
    const { metrics, logger } = this.options;
    const since = this.pendingSince;
    this.pendingSince = undefined;
    // Captured before the balancers see it: what is acknowledged after they took it.
    const applying = this.options.capture?.() ?? [];
    let failed = false;
    let lastError = '';
    for (const [name, active] of this.balancers) {
      const clusters = this.balancedClusters(active.item);
      const stopTimer = metrics.syncDuration.startTimer({ balancer: name });
      try {
        await active.instance.sync(clusters);
        metrics.syncs.inc({ balancer: name, result: 'ok' });
      } catch (error) {
        failed = true;
        lastError = `balancer "${name}": ${errorMessage(error)}`;
        metrics.syncs.inc({ balancer: name, result: 'failed' });
        logger.error({ err: error, balancer: name }, `balancer "${name}" could not be updated, the running one keeps serving: ${errorMessage(error)}`);
      } finally {
        stopTimer();
      }
    }
    if (failed) {
      this.options.outcome?.(lastError);
      this.scheduleRetry();
      return;
    }
    this.retryBackoff.reset();
    metrics.lastSync.set(Date.now() / 1000);
    if (this.balancers.size > 0) this.options.outcome?.(null);
    if (since !== undefined) metrics.convergence.observe((performance.now() - since) / 1000);
    if (this.balancers.size > 0) {
      this.firstSyncDone = true;
      this.options.synced?.(applying);
    }
    if (since !== undefined) this.options.applied();
    for (const listener of this.syncListeners) listener();
  }

  /** A failed sync (HAProxy would not start, a reload failed) is retried with backoff, and on the next change. */
  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const delay = this.retryBackoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.options.retry();
    }, delay);
  }

  private balancedClusters(balancer: BalancerItem): BalancedCluster[] {
    const plugin = this.options.registries.balancers.get(balancer.plugin);
    return [...this.options.snapshot().clusters.values()].map((item) => {
      let config = item.balancer[balancer.plugin];
      if (config === undefined && plugin) {
        const defaults = plugin.clusterSchema.safeParse({});
        config = defaults.success ? defaults.data : {};
      }
      return { name: item.name, metaCluster: item.metaCluster, config, members: this.options.state.get(item.name).members };
    });
  }
}
