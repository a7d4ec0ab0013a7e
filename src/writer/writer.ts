import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Balancer, DrainingServer } from '../balancer/types.js';
import type { ClusterItem, DiscoveryItem } from '../config/model.js';
import { ConfigDirectory } from '../config/directory.js';
import { emptySnapshot, type ConfigSnapshot } from '../config/snapshot.js';
import { ConfigWatcher } from '../config/watcher.js';
import { applyDaemonSettings } from '../daemon/settings.js';
import { DiscoveryPool } from '../daemon/discovery-pool.js';
import { nodeKey } from '../discovery/node.js';
import type { ClusterWatch, Discovery, MemberSet } from '../discovery/types.js';
import { errorMessage } from '../lib/errors.js';
import { oneLine } from '../lib/one-line.js';
import type { DaemonLogger, Logger } from '../lib/logger.js';
import { createWriterMetrics, type WriterMetrics } from '../lib/metrics.js';
import { machineId } from '../lib/machine-id.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { AckPublisher } from './ack-publisher.js';
import { BalancerSync } from './balancer-sync.js';
import { ClusterStateStore, type ChangeCause, type ClusterState, type MemberChange } from './cluster-state.js';
import { SyncRecorder, syncFilePath } from './sync-file.js';
import { HoldKeeper } from './hold-keeper.js';
import { defaultStateDir } from './holds-file.js';
import { guardSettings, type RemovalGuardSettings } from './removal-guard.js';
import { StartupGate } from './startup-gate.js';
import { Quiescence } from '../lib/quiescence.js';
import { loadMemberCache, memberCachePath, saveMemberCache } from './member-cache.js';

export interface WriterOptions {
  configDir: string;
  registries: PluginRegistries;
  log: DaemonLogger;
  metrics?: WriterMetrics;
  /** quiet period before a sync; 0 = next event-loop turn (bursts still coalesce) */
  minWaitMs?: number;
  maxWaitMs?: number;
  /**
   * At start, the first sync waits until every watched cluster has reported
   * its members once, so HAProxy starts with complete backends (startup-gate.ts):
   * it gives up when no cluster has reported for this long since the watches
   * were set up, and at the latest after five times this long.
   */
  startupWaitMs?: number;
  /** where the last known member sets are kept across restarts; default `<configDir>/.state/writer-members.json` */
  memberCacheFile?: string;
  /** the writer's state folder (`--state-dir`): the holds file and release requests; default `<configDir>/.state` */
  stateDir?: string;
}

interface ActiveWatch {
  discovery: string;
  /** the discovery instance the watch runs on: a replaced instance means re-watch */
  instance: object;
  watch: ClusterWatch;
}

/**
 * The writer daemon: config directory -> discovery watches -> cluster state
 * -> balancers. Config changes are reconciled by name and hash; member
 * changes trigger a coalesced sync of every balancer, one at a time
 * (balancer-sync.ts runs the balancers and the sync loop).
 */
export class Writer {
  readonly metrics: WriterMetrics;
  readonly state = new ClusterStateStore();
  private readonly logger: Logger;
  private readonly pool: DiscoveryPool;
  private readonly watcher: ConfigWatcher;
  private readonly watches = new Map<string, ActiveWatch>();
  private readonly balancers: BalancerSync;
  private readonly quiescence: Quiescence;
  private readonly initialSnapshot: ConfigSnapshot = emptySnapshot();
  private snapshot: ConfigSnapshot = this.initialSnapshot;
  private stopped = false;
  /** clusters already warned about a missing discovery item, so the warning is not repeated on every rescan */
  private readonly missingDiscovery = new Set<string>();
  /** clusters whose watch could not start, with the message logged, so it is logged once per cause */
  private readonly unwatchable = new Map<string, string>();
  /** open once every watched cluster reported at start, or the gate gave up waiting */
  private readonly startup: StartupGate;
  /**
   * Watched clusters that reported while the gate was closed, kept as they
   * report: counting them over every watch on each report cost 1,000 x 1,000
   * state look-ups before a 1,000-cluster start (30-120 ms on its critical path).
   */
  private readonly reportedAtStart = new Set<string>();
  private readonly cacheFile: string;
  private cacheTimer: NodeJS.Timeout | undefined;
  /** the last write of the member cache failed: warned once per change between failing and recovered */
  private cacheFailing = false;
  private readonly holds: HoldKeeper;
  private readonly changeListeners = new Set<(change: MemberChange, cause: ChangeCause) => void>();
  private readonly syncRecord: SyncRecorder;
  private readonly acks: AckPublisher;

  constructor(private readonly options: WriterOptions) {
    this.logger = options.log.logger;
    this.metrics = options.metrics ?? createWriterMetrics();
    this.cacheFile = options.memberCacheFile ?? memberCachePath(options.configDir);
    this.pool = new DiscoveryPool(options.registries, this.logger, (name) => ({
      onStateChange: (state) => {
        this.metrics.stateChanges.inc({ discovery: name, state });
        this.metrics.sessionState.set({ discovery: name }, state === 'connected' ? 1 : 0);
        // `closed` is the writer's own doing (a stop, a removed discovery file), not a fault.
        if (state === 'closed') this.logger.info({ discovery: name }, `discovery "${name}" closed`);
        else if (state !== 'connected') this.logger.warn({ discovery: name, state }, `discovery "${name}" is ${state}: keeping the last known members`);
        else {
          this.logger.info({ discovery: name }, `discovery "${name}" connected`);
          this.acks.reconnected(name);
        }
      },
      onSession: () => {
        this.metrics.sessions.inc({ discovery: name });
        this.acks.renewed(name);
      },
    }));
    this.watcher = new ConfigWatcher(new ConfigDirectory(options.configDir, options.registries, ['logging', 'plugins', 'balancer', 'discovery', 'cluster']), {
      logger: this.logger.child({ module: 'config' }),
      onSnapshot: (snapshot, scan) => {
        this.metrics.configProblems.set(scan.problems.length);
        return this.reconcile(snapshot);
      },
      onProblems: (scan) => this.metrics.configProblems.set(scan.problems.length),
    });
    this.syncRecord = new SyncRecorder(syncFilePath(options.stateDir ?? defaultStateDir(options.configDir)), this.logger);
    this.holds = new HoldKeeper({
      configDir: options.configDir,
      stateDir: options.stateDir ?? defaultStateDir(options.configDir),
      logger: this.logger,
      heldMembers: this.metrics.heldMembers,
      holdsStarted: this.metrics.holdsStarted,
      release: (cluster) => this.applyGuardChange(cluster, this.state.release(cluster), 'operator-release'),
      dropHeld: (cluster, keys) => this.applyGuardChange(cluster, this.state.dropHeld(cluster, keys), 'probe-failed'),
      probeHeld: (cluster) => {
        const item = this.snapshot.clusters.get(cluster);
        return item ? this.guardSettingsOf(item).probeHeld : false;
      },
    });
    this.balancers = new BalancerSync({
      registries: options.registries,
      logger: this.logger,
      metrics: this.metrics,
      state: this.state,
      snapshot: () => this.snapshot,
      retry: () => this.requestSync(),
      applied: () => this.scheduleCacheWrite(),
      outcome: (error) => (error === null ? this.syncRecord.synced() : this.syncRecord.failed(error)),
      capture: () => [...this.snapshot.clusters.values()].map((item) => this.acks.capture(item.name, item.discovery, this.state.get(item.name))),
      synced: (clusters) => this.acks.applied(clusters),
    });
    this.acks = new AckPublisher({
      host: hostname(),
      machine: machineId(),
      configDir: resolve(options.configDir),
      stateDir: resolve(options.stateDir ?? defaultStateDir(options.configDir)),
      logger: this.logger,
      store: (discovery) => this.pool.get(discovery)?.instance.acks,
      draining: () => this.drainingSessions(),
      writes: this.metrics.ackWrites,
    });
    const startupWaitMs = options.startupWaitMs ?? 2_000;
    this.startup = new StartupGate(startupWaitMs, 5 * startupWaitMs, () => {
      this.logger.warn('not every cluster reported its members in time; syncing with what is known');
      this.reportedAtStart.clear();
      this.requestSync();
    });
    this.quiescence = new Quiescence(() => void this.balancers.sync(), options.minWaitMs ?? 0, options.maxWaitMs ?? 1000);
  }

  async start(): Promise<void> {
    this.logger.info({ configDir: this.options.configDir }, 'writer starting');
    // Seeded before any watch starts, so a restart while discovery is away syncs the last known members, not empty backends.
    const cached = await loadMemberCache(this.cacheFile);
    for (const [cluster, members] of cached) this.state.seed(cluster, members);
    if (cached.size > 0) this.logger.info({ clusters: cached.size }, `starting from the last known members of ${cached.size} clusters until discovery reports`);
    await this.holds.start();
    this.startup.begin();
    await this.watcher.start();
    if (!this.stopped) this.startup.watching();
  }

  /** True once every balancer has been synced at least once. */
  get ready(): boolean {
    return this.balancers.ready;
  }

  clusters(): { item: ClusterItem; state: ClusterState }[] {
    return [...this.snapshot.clusters.values()].map((item) => ({ item, state: this.state.get(item.name) }));
  }

  onSynced(listener: () => void): () => void {
    return this.balancers.onSynced(listener);
  }

  /** Told of every change of a cluster's routed members and why, before it is synced (the dashboard's reasons). */
  onMemberChange(listener: (change: MemberChange, cause: ChangeCause) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  balancer(name: string): Balancer | undefined {
    return this.balancers.get(name);
  }

  /** The discovery instances open now, with their files (the dashboard's fleet panel reads the acknowledgements through them). */
  discoveries(): { item: DiscoveryItem; instance: Discovery }[] {
    return this.pool.all();
  }

  /** Names of the balancers currently managed (for the dashboard and metrics). */
  balancerNames(): string[] {
    return this.balancers.names();
  }

  private async reconcile(next: ConfigSnapshot): Promise<void> {
    const previous = this.snapshot;
    this.snapshot = next;
    applyDaemonSettings(previous, next, this.options.log, previous === this.initialSnapshot);

    const poolChange = this.pool.reconcile(next.discovery);
    this.balancers.reconcile(previous, next);
    this.reconcileGuards(next);
    this.reconcileWatches(next);
    // Make before break: watches already moved to the new instances above.
    await this.pool.retire(poolChange.retired);
    this.requestSync();
  }

  private reconcileWatches(next: ConfigSnapshot): void {
    for (const [name, active] of this.watches) {
      if (next.clusters.has(name)) continue;
      active.watch.close();
      this.watches.delete(name);
      this.reportedAtStart.delete(name);
      this.state.forget(name);
      this.acks.forget(name);
      this.missingDiscovery.delete(name);
      this.metrics.members.remove({ cluster: name });
      this.metrics.rejectedNodes.remove({ cluster: name });
      this.logger.info({ cluster: name }, `cluster "${name}" removed`);
    }
    for (const item of next.clusters.values()) {
      const pooled = this.pool.get(item.discovery);
      const active = this.watches.get(item.name);
      if (!pooled) {
        if (!this.missingDiscovery.has(item.name)) {
          this.missingDiscovery.add(item.name);
          this.logger.warn({ cluster: item.name, file: item.file, code: 'LH_CONFIG_REFERENCE' }, `${item.file}: discovery: "${item.discovery}" is not in force (discovery/${item.discovery}.yaml is missing, or invalid: its own line says why); keeping the last known members`);
        }
        active?.watch.close();
        this.watches.delete(item.name);
        this.reportedAtStart.delete(item.name);
        continue;
      }
      this.missingDiscovery.delete(item.name);
      if (active && active.instance === pooled.instance) continue;
      // Start the new watch before closing the old one; members stay in the store meanwhile.
      let watch: ClusterWatch;
      try {
        watch = pooled.instance.watch(item.name, (set) => this.onMembers(set));
      } catch (error) {
        // One cluster a backend refuses (a name it cannot hold) must not stop the clusters after it.
        const message = `${oneLine(item.file)}: cannot watch cluster "${item.name}" on discovery "${item.discovery}": ${oneLine(errorMessage(error))}`;
        if (this.unwatchable.get(item.name) !== message) this.logger.error({ err: error, cluster: item.name, file: item.file }, message);
        this.unwatchable.set(item.name, message);
        continue;
      }
      this.unwatchable.delete(item.name);
      active?.watch.close();
      this.watches.set(item.name, { discovery: item.discovery, instance: pooled.instance, watch });
      if (!active) this.logger.info({ cluster: item.name, discovery: item.discovery }, `watching cluster "${item.name}"`);
    }
    for (const name of this.unwatchable.keys()) if (!next.clusters.has(name)) this.unwatchable.delete(name);
  }

  /** Removal-guard settings first, so a cluster's first member set is already judged by its own. */
  private reconcileGuards(next: ConfigSnapshot): void {
    for (const name of this.holds.holds().keys()) if (!next.clusters.has(name)) this.holds.forget(name);
    for (const item of next.clusters.values()) this.applyGuardChange(item.name, this.state.configureGuard(item.name, this.guardSettingsOf(item, next)), 'guard-settings');
  }

  /** The cluster file's `removal_guard:` over its discovery file's, over the built-in defaults. */
  private guardSettingsOf(item: ClusterItem, snapshot: ConfigSnapshot = this.snapshot): RemovalGuardSettings {
    return guardSettings(item.removalGuard, guardSettings(snapshot.discovery.get(item.discovery)?.removalGuard ?? {}));
  }

  /** A hold released or narrowed by settings, an operator or a probe. */
  private applyGuardChange(cluster: string, change: MemberChange | undefined, cause: ChangeCause): void {
    if (this.stopped) return;
    this.holds.observe(cluster, this.state.get(cluster));
    if (change) this.applyChange(change, cause);
  }

  private onMembers(set: MemberSet): void {
    if (this.stopped || !this.snapshot.clusters.has(set.cluster)) return;
    const change = this.state.update(set);
    if (!this.startup.open) this.reportedAtStart.add(set.cluster);
    this.acks.listed(set.cluster, set.version);
    this.metrics.rejectedNodes.set({ cluster: set.cluster }, set.rejected.length);
    this.holds.observe(set.cluster, this.state.get(set.cluster));
    this.metrics.members.set({ cluster: set.cluster }, this.state.get(set.cluster).listed);
    if (change) this.applyChange(change, 'discovery');
    else this.acknowledgeUnchanged(set.cluster);
  }

  /**
   * The same members at a new version (or a hold's numbers changed): what
   * the balancers run is that version already, unless a sync is due or
   * failed; then the next sync acknowledges it.
   */
  private acknowledgeUnchanged(cluster: string): void {
    const item = this.snapshot.clusters.get(cluster);
    if (!item || !this.balancers.ready) return;
    if (this.balancers.busy) {
      this.requestSync();
      return;
    }
    this.acks.applied([this.acks.capture(cluster, item.discovery, this.state.get(cluster))]);
  }

  /** Servers out of routing that still have sessions, over every balancer that can tell. */
  private async drainingSessions(): Promise<DrainingServer[]> {
    const lists = await Promise.all(this.balancers.names().map((name) => this.balancers.get(name)?.drainingSessions?.() ?? Promise.resolve([])));
    return lists.flat();
  }

  private applyChange(change: MemberChange, cause: ChangeCause): void {
    for (const listener of this.changeListeners) listener(change, cause);
    this.metrics.membershipChanges.inc({ cluster: change.cluster });
    const routed = this.state.get(change.cluster).members.length;
    const fields = { cluster: change.cluster, revision: change.revision, added: change.added.map(nodeKey), removed: change.removed.map(nodeKey), changed: change.changed.map(nodeKey) };
    // Held members count as routed: a hold is logged by the hold keeper (a warning), and only an empty backend is an outage.
    if (routed === 0 && change.removed.length > 0) {
      this.logger.error(
        { ...fields, code: 'LH_CLUSTER_EMPTY' },
        `cluster "${change.cluster}" now has 0 members: its frontend has no server to send requests to (discovery lists none, and the removal guard holds none)`,
      );
    } else this.logger.info(fields, `cluster "${change.cluster}" now has ${routed} members`);
    this.balancers.pending();
    this.requestSync();
  }

  private requestSync(): void {
    if (this.stopped) return;
    if (!this.startup.open) {
      if (this.reportedAtStart.size < this.watches.size) {
        this.startup.progress(this.reportedAtStart.size);
        return;
      }
      // The running count says all: confirmed once over every watch before HAProxy starts.
      let reported = 0;
      for (const name of this.watches.keys()) if (this.state.get(name).revision !== 0) reported += 1;
      if (reported < this.watches.size) {
        this.startup.progress(reported);
        return;
      }
      this.startup.complete();
      this.reportedAtStart.clear();
    }
    this.quiescence.trigger();
  }

  /** Remembers the applied member sets, at most once a second: only a restart reads them. */
  private scheduleCacheWrite(): void {
    if (this.cacheTimer || this.stopped) return;
    this.cacheTimer = setTimeout(() => {
      this.cacheTimer = undefined;
      void this.writeCache();
    }, 1_000);
  }

  private async writeCache(): Promise<void> {
    const clusters = new Map([...this.snapshot.clusters.keys()].map((name) => [name, this.state.get(name).members]));
    try {
      await saveMemberCache(this.cacheFile, clusters);
    } catch (error) {
      if (!this.cacheFailing) this.logger.warn({ err: error, file: this.cacheFile }, `${this.cacheFile}: cannot keep the last known members for restarts: ${errorMessage(error)}`);
      this.cacheFailing = true;
      return;
    }
    if (this.cacheFailing) this.logger.info({ file: this.cacheFile }, `${this.cacheFile}: the last known members are kept for restarts again`);
    this.cacheFailing = false;
  }

  /** Stops watching and managing; the load balancer keeps serving with what it has. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.quiescence.cancel();
    this.balancers.stop();
    this.startup.cancel();
    this.acks.close();
    await this.holds.close();
    await this.watcher.close();
    await this.balancers.settled();
    if (this.cacheTimer) {
      clearTimeout(this.cacheTimer);
      this.cacheTimer = undefined;
      await this.writeCache();
    }
    for (const active of this.watches.values()) active.watch.close();
    this.watches.clear();
    await this.balancers.close();
    await this.pool.close();
    await this.syncRecord.close();
    this.logger.info('writer stopped; the load balancer keeps serving');
  }
}
