import type { ServiceItem } from '../config/model.js';
import { ConfigDirectory } from '../config/directory.js';
import { emptySnapshot, type ConfigSnapshot } from '../config/snapshot.js';
import { ConfigWatcher } from '../config/watcher.js';
import { applyDaemonSettings } from '../config/daemon-settings.js';
import { DiscoveryPool, type PooledDiscovery } from '../discovery/pool.js';
import type { DaemonLogger, Logger } from '../lib/logger.js';
import { createReporterMetrics, type ReporterMetrics } from '../lib/metrics.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { handoverDeadline, registeredPorts, whenRegistered } from './handover.js';
import { resolveLocalIdentity, type LocalIdentity } from './local-identity.js';
import { canUpdateInPlace, ServiceRunner, type ServiceStatus, type RunnerTiming } from './service-runner.js';

export interface ReporterOptions {
  configDir: string;
  registries: PluginRegistries;
  log: DaemonLogger;
  metrics?: ReporterMetrics;
  /** machine identity; resolved from the host name when not given */
  identity?: LocalIdentity;
  timing?: Partial<RunnerTiming>;
  /** drains that survive restarts: consulted when a runner starts */
  drains?: DrainSource;
}

/** Where operator drains (`lighthouse drain`) are read from. */
export interface DrainSource {
  drainsFor(service: string): { ports: number[] | 'all'; reason: string } | undefined;
}

interface ActiveRunner {
  item: ServiceItem;
  runner: ServiceRunner;
  /** the discovery instance the runner publishes through */
  instance: object;
}

/**
 * The reporter daemon: config directory -> one ServiceRunner per service ->
 * checks -> registrations. Services are reconciled by name and hash, and a
 * replaced runner is only stopped once its successor has registered.
 */
export class Reporter {
  readonly metrics: ReporterMetrics;
  private readonly logger: Logger;
  private readonly pool: DiscoveryPool;
  private readonly watcher: ConfigWatcher;
  private readonly runners = new Map<string, ActiveRunner>();
  private identity: LocalIdentity | undefined;
  private readonly initialSnapshot: ConfigSnapshot = emptySnapshot();
  private snapshot: ConfigSnapshot = this.initialSnapshot;
  private readonly waitingForDiscovery = new Set<string>();
  private stopped = false;
  private started = false;

  constructor(private readonly options: ReporterOptions) {
    this.logger = options.log.logger;
    this.metrics = options.metrics ?? createReporterMetrics();
    this.identity = options.identity;
    this.pool = new DiscoveryPool(options.registries, this.logger, (name) => ({
      onStateChange: (state) => {
        this.metrics.stateChanges.inc({ discovery: name, state });
        this.metrics.sessionState.set({ discovery: name }, state === 'connected' ? 1 : 0);
        if (state === 'connected') {
          this.logger.info({ discovery: name }, `discovery "${name}" connected`);
          for (const active of this.runnersOn(name)) active.runner.onReconnected();
        } else this.logger.warn({ discovery: name, state }, `discovery "${name}" is ${state}: checks go on, registrations are restored when a session exists`);
      },
      onSession: (sessionId) => {
        this.metrics.sessions.inc({ discovery: name });
        for (const active of this.runnersOn(name)) active.runner.onSession(sessionId);
      },
      onLost: (service, key) => {
        const active = this.runners.get(service);
        if (active && active.item.discovery === name) active.runner.onLost(key);
      },
    }));
    this.watcher = new ConfigWatcher(new ConfigDirectory(options.configDir, options.registries, ['logging', 'plugins', 'discovery', 'service']), {
      logger: this.logger.child({ module: 'config' }),
      onSnapshot: (snapshot, scan) => {
        this.metrics.configProblems.set(scan.problems.length);
        return this.reconcile(snapshot);
      },
      onProblems: (scan) => this.metrics.configProblems.set(scan.problems.length),
    });
  }

  async start(): Promise<void> {
    this.identity ??= await resolveLocalIdentity();
    this.logger.info({ configDir: this.options.configDir, host: this.identity.fqdn, ip: this.identity.ip }, 'reporter starting');
    await this.watcher.start();
    this.started = true;
  }

  /** True once the config was read and every service has a runner. */
  get ready(): boolean {
    return this.started;
  }

  status(): ServiceStatus[] {
    return [...this.runners.values()].map((active) => active.runner.status());
  }

  runner(service: string): ServiceRunner | undefined {
    return this.runners.get(service)?.runner;
  }

  private runnersOn(discovery: string): ActiveRunner[] {
    return [...this.runners.values()].filter((active) => active.item.discovery === discovery);
  }

  private async reconcile(next: ConfigSnapshot): Promise<void> {
    if (this.stopped) return;
    const previous = this.snapshot;
    this.snapshot = next;
    applyDaemonSettings(previous, next, this.options.log, previous === this.initialSnapshot);
    const poolChange = this.pool.reconcile(next.discovery);

    for (const [name, active] of this.runners) {
      if (next.services.has(name)) continue;
      this.runners.delete(name);
      this.logger.info({ service: name }, `service "${name}" removed: deregistering`);
      void active.runner.stop({ deregister: true });
      this.metrics.registered.remove({ service: name });
    }

    const handovers: Promise<void>[] = [];
    for (const item of next.services.values()) {
      const pooled = this.pool.get(item.discovery);
      const active = this.runners.get(item.name);
      if (!pooled) {
        if (!this.waitingForDiscovery.has(item.name)) {
          this.waitingForDiscovery.add(item.name);
          this.logger.warn({ service: item.name, file: item.file }, `${item.file}: discovery: "${item.discovery}" is not configured (no discovery/${item.discovery}.yaml); the service waits for it`);
        }
        continue;
      }
      this.waitingForDiscovery.delete(item.name);
      if (active && active.instance === pooled.instance && active.item.hash === item.hash) continue;
      if (active && active.instance === pooled.instance && canUpdateInPlace(active.item, item)) {
        active.runner.update(item, pooled.item.advertise);
        active.item = item;
        this.logger.info({ service: item.name }, `service "${item.name}" changed: updated in place`);
        continue;
      }
      handovers.push(this.replace(item, pooled, active));
    }
    // Old discovery sessions close only after their runners' successors took over.
    const retire = Promise.all(handovers).then(() => this.pool.retire(poolChange.retired));
    retire.catch((error: unknown) => this.logger.warn({ err: error }, 'service handover failed'));
  }

  /** Make before break: the new runner registers first, then the old one stops. */
  private replace(item: ServiceItem, pooled: PooledDiscovery, previous: ActiveRunner | undefined): Promise<void> {
    const runner = this.createRunner(item, pooled);
    this.runners.set(item.name, { item, runner, instance: pooled.instance });
    runner.start();
    if (!previous) {
      this.logger.info({ service: item.name, ports: item.ports, discovery: item.discovery }, `service "${item.name}" started`);
      return Promise.resolve();
    }
    this.logger.info({ service: item.name }, `service "${item.name}" moves to a new discovery session: handing over`);
    const sameBackend = previous.item.discovery === item.discovery;
    const ports = registeredPorts(previous.runner);
    // On the same backend the new session takes the znodes over, so the old runner must not fight back.
    const stopOld = sameBackend ? previous.runner.stop({ deregister: false }) : Promise.resolve();
    return stopOld
      .then(() => whenRegistered(runner, ports, handoverDeadline(previous.runner, previous.item.intervalMs)))
      .then(() => (sameBackend ? undefined : previous.runner.stop({ deregister: true })));
  }

  private createRunner(item: ServiceItem, pooled: PooledDiscovery): ServiceRunner {
    const runner = new ServiceRunner({
      item,
      discovery: pooled.instance,
      identity: this.identity!,
      discoveryAdvertise: pooled.item.advertise,
      checkPlugins: this.options.registries.checks,
      logger: this.logger.child({ module: `service:${item.name}` }),
      timing: this.options.timing,
    });
    // Label children bound once per check kind and result: looking the label set up on every
    // one of ~1,000 results a second showed in the reporter's profile.
    const counted = new Map<string, { count(): void; observe(seconds: number): void }>();
    runner.onCheckResult((event) => {
      const result = event.passed ? 'pass' : 'fail';
      const key = `${event.check}\0${result}`;
      let metric = counted.get(key);
      if (!metric) {
        const counter = this.metrics.checks.labels({ service: event.service, check: event.check, result });
        const histogram = this.metrics.checkDuration.labels({ service: event.service, check: event.check });
        metric = { count: () => counter.inc(), observe: (seconds) => histogram.observe(seconds) };
        counted.set(key, metric);
      }
      metric.count();
      metric.observe(event.durationMs / 1000);
    });
    runner.onTransition((event) => this.metrics.transitions.inc({ service: event.service, to: event.up ? 'up' : 'down' }));
    // Registration events fire inside the write, before the runner marks the port registered (or not);
    // counting on the next turn sees the state the event announced instead of the one before it.
    runner.onRegistration(() => this.metrics.registered.set({ service: item.name }, runner.status().ports.filter((port) => port.registered).length));
    const drain = this.options.drains?.drainsFor(item.name);
    if (drain) runner.setDrained(drain.ports, drain.reason);
    return runner;
  }

  /** Deregisters every service at once (not after the session timeout), then closes the sessions. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.watcher.close();
    await Promise.all([...this.runners.values()].map((active) => active.runner.stop({ deregister: true })));
    this.runners.clear();
    await this.pool.close();
    this.logger.info('reporter stopped; registrations removed');
  }
}
