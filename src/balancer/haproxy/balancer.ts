import type { Logger } from '../../lib/logger.js';
import type { Balancer, BalancedCluster, BalancerProblem, BalancerStats, DrainingServer, RenderedBalancerConfig } from '../types.js';
import { ConfigFile } from './config-file.js';
import { DrainingSessions } from './draining.js';
import { HaproxyHealth } from './health.js';
import { haproxyFrontends, haproxyStatusPage } from './frontends.js';
import { haproxyPaths } from './paths.js';
import { HaproxyProcess } from './process.js';
import { adminSocket } from './runtime-api.js';
import { HaproxyControl } from './runtime-channel.js';
import { RuntimeOps } from './runtime-ops.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';
import { HaproxySupervisor } from './supervisor.js';
import { SyncPolicy } from './sync-policy.js';

type Cluster = BalancedCluster<HaproxyClusterConfig>;

export interface HaproxyBalancerOptions {
  logger: Logger;
  /** balancer file, for messages */
  file?: string;
  /** how often the master pid is checked (a cheap /proc read) */
  livenessIntervalMs?: number;
  /** a removed server keeps its connections this long before they are cut */
  drainTimeoutMs?: number;
  /** pause between `del server` attempts while a removed server drains */
  deleteRetryMs?: number;
  startTimeoutMs?: number;
  /**
   * After a membership-only change the config file is written in the
   * background once changes pause for this long (default 250 ms)...
   */
  configWriteQuietMs?: number;
  /**
   * ...or at the latest this long after the first unwritten change (default
   * 5 s). A write that needs `haproxy -c` blocks the event loop for several
   * ms when it spawns it (fork of a large process: ~11 ms at 150 MB RSS
   * here), so under churn writes should not come between every two changes.
   * Reloads, restarts, structural syncs and close() never wait for this.
   */
  configWriteMaxDelayMs?: number;
}

/**
 * The HAProxy balancer. `sync` renders the whole config and brings the
 * running HAProxy there the cheapest safe way: runtime API for membership
 * (at once; the validated file follows in the background, coalesced), one
 * seamless master-worker reload for structural changes (validated with
 * `haproxy -c` and written atomically first), a start when nothing runs.
 * The file is always the truth: nothing (re)loads it while a write is
 * pending. This class only assembles the parts (sync-policy.ts decides,
 * supervisor.ts runs the process, runtime-ops.ts changes servers) and owns
 * the one queue, so a sync, a deferred reload and a restart after a crash
 * never overlap.
 */
export class HaproxyBalancer implements Balancer<HaproxyClusterConfig> {
  readonly control: HaproxyControl;
  /** up or down, logged once per change; `lighthouse_haproxy_up` and the marker `lighthouse status` reads */
  readonly health: HaproxyHealth;
  /** config_file and its writes (validated, or in the background after membership changes) */
  private readonly file: ConfigFile;
  private readonly ops: RuntimeOps;
  private readonly supervisor: HaproxySupervisor;
  private readonly policy: SyncPolicy;
  private readonly draining: DrainingSessions;
  private queue: Promise<unknown> = Promise.resolve();
  /** the clusters of the last sync, for the frontends the dashboard shows */
  private lastClusters: readonly Cluster[] = [];

  constructor(
    private readonly config: HaproxyConfig,
    options: HaproxyBalancerOptions,
  ) {
    const logger = options.logger;
    const paths = haproxyPaths(config);
    const process = new HaproxyProcess({
      binary: config.haproxy_binary,
      paths,
      logger,
      startTimeoutMs: options.startTimeoutMs,
      // Our own master dying (killed, crashed) restarts it now; an adopted one is found by the periodic check.
      onExit: (pid) => this.supervisor.exited(pid),
    });
    this.control = new HaproxyControl(paths, adminSocket(paths.adminSocket), process);
    this.health = new HaproxyHealth(paths.down, logger);
    this.draining = new DrainingSessions(paths.adminSocket);
    this.file = new ConfigFile({
      paths,
      process,
      counters: this.control.counters,
      logger,
      balancerFile: options.file,
      quietMs: options.configWriteQuietMs ?? 250,
      maxDelayMs: options.configWriteMaxDelayMs ?? 5_000,
    });
    this.ops = new RuntimeOps({
      control: this.control,
      logger,
      drainTimeoutMs: options.drainTimeoutMs ?? 10_000,
      deleteRetryMs: options.deleteRetryMs ?? 5,
      // A server deleted to change role (backup or not) is added back at once, not at the next change.
      onRoleChangeDeleted: () => void this.serial(() => this.policy.reconcile()).catch((error: unknown) => logger.warn({ err: error }, 'could not add back a server that changed role')),
    });
    const serial = <T>(work: () => Promise<T>): Promise<T> => this.serial(work);
    this.supervisor = new HaproxySupervisor({
      config,
      paths,
      process,
      control: this.control,
      health: this.health,
      file: this.file,
      ops: this.ops,
      logger,
      livenessIntervalMs: options.livenessIntervalMs ?? 1_000,
      serial,
      desired: () => this.policy.desired,
      onLoaded: () => this.policy.loaded(),
    });
    this.policy = new SyncPolicy({
      config,
      paths,
      process,
      control: this.control,
      file: this.file,
      ops: this.ops,
      supervisor: this.supervisor,
      logger,
      balancerFile: options.file,
      serial,
    });
  }

  sync(clusters: readonly Cluster[]): Promise<void> {
    this.lastClusters = clusters;
    return this.serial(() => this.policy.sync(clusters));
  }

  validate(clusters: readonly Cluster[]): Promise<BalancerProblem[]> {
    return this.policy.validate(clusters);
  }

  render(clusters: readonly Cluster[]): RenderedBalancerConfig {
    return this.policy.render(clusters);
  }

  stats(): BalancerStats {
    const { control, health } = this;
    return {
      counters: control.counters,
      up: health.up,
      servers: () => control.serverStats(),
      frontends: () => haproxyFrontends(this.config, this.lastClusters),
      statusPage: haproxyStatusPage(this.config),
    };
  }

  drainingSessions(): Promise<DrainingServer[]> {
    return this.draining.read();
  }

  async close(): Promise<void> {
    this.supervisor.close();
    this.policy.close();
    this.ops.close();
    await this.queue.catch(() => undefined);
    // Leave the file matching what the worker runs.
    await this.file.settle();
    await this.health.settle();
    this.control.close();
  }

  /**
   * Resolves once config_file holds everything membership syncs applied so far
   * (the background write is done). For callers that read the file, e.g. tests.
   */
  async configWritten(): Promise<void> {
    await this.serial(() => this.policy.ensureWritten());
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
