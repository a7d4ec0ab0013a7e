import type { Advertise, ServiceItem } from '../config/model.js';
import { ConfigDirectory } from '../config/directory.js';
import { emptySnapshot, type ConfigSnapshot } from '../config/snapshot.js';
import { ConfigWatcher } from '../config/watcher.js';
import { applyDaemonSettings } from '../daemon/settings.js';
import { DiscoveryPool, type PooledDiscovery } from '../daemon/discovery-pool.js';
import type { DaemonLogger, Logger } from '../lib/logger.js';
import { createReporterMetrics, type ReporterMetrics } from '../lib/metrics.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { Handover, handoverDeadline } from './handover.js';
import { advertisedAddress, resolveLocalIdentity, type LocalIdentity } from './local-identity.js';
import { CheckAddressWarnings } from './check-address.js';
import { canUpdateInPlace, ServiceRunner, type ServiceStatus, type RunnerTiming } from './service-runner.js';
import type { HandoverStatus } from './runner-status.js';
import { ReporterStateWriter, type ReporterTroubles } from './state-file.js';
import { PortSeries } from './port-series.js';
import { PortReports } from './port-report.js';
import { countRunnerEvents } from './runner-metrics.js';
import { collectTroubles, runnersOn, runningChecks, type ActiveRunner } from './active-runner.js';

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
  /** where to keep stalled handovers and registration conflicts for `lighthouse status` (see state-file.ts); none: not kept */
  stateFile?: string;
}

/** Where operator drains (`lighthouse drain`) are read from. */
export interface DrainSource {
  drainsFor(service: string): { ports: number[] | 'all'; reason: string } | undefined;
}

/**
 * The reporter daemon: config directory -> one ServiceRunner per service ->
 * checks -> registrations. Services are reconciled by name and hash, and a
 * replaced runner is only stopped once its successor has registered.
 */
export class Reporter {
  readonly metrics: ReporterMetrics;
  private readonly registeredSeries: PortSeries;
  private readonly checkUpSeries: PortSeries;
  private readonly logger: Logger;
  private readonly pool: DiscoveryPool;
  private readonly watcher: ConfigWatcher;
  private readonly runners = new Map<string, ActiveRunner>();
  private identity: LocalIdentity | undefined;
  private readonly checkAddressWarnings: CheckAddressWarnings;
  private readonly portReports = new PortReports();
  private readonly initialSnapshot: ConfigSnapshot = emptySnapshot();
  private snapshot: ConfigSnapshot = this.initialSnapshot;
  private readonly waitingForDiscovery = new Set<string>();
  /** discovery instances replaced or removed from the config: closed once no runner uses them */
  private retiring: PooledDiscovery[] = [];
  /** runners stopping (deregistering): their sessions stay open until they are done */
  private readonly leaving = new Set<ActiveRunner>();
  /** last state each discovery instance reported, for the handover-stalled line */
  private readonly instanceState = new WeakMap<object, string>();
  private readonly stateFile: ReporterStateWriter | undefined;
  private stopped = false;
  private started = false;

  constructor(private readonly options: ReporterOptions) {
    this.logger = options.log.logger;
    this.metrics = options.metrics ?? createReporterMetrics();
    this.checkAddressWarnings = new CheckAddressWarnings(this.logger);
    this.registeredSeries = new PortSeries(this.metrics.registered);
    this.checkUpSeries = new PortSeries(this.metrics.checkUp);
    this.identity = options.identity;
    this.stateFile = options.stateFile ? new ReporterStateWriter(options.stateFile, this.logger) : undefined;
    // Events go to the runners of the instance that sent them: during a handover two instances
    // of one discovery name are open, each with its own runner of the service.
    this.pool = new DiscoveryPool(options.registries, this.logger, (name, instance) => ({
      onStateChange: (state) => {
        this.instanceState.set(instance, state);
        // A stalled handover names the new session's state.
        this.syncStateFile();
        const current = this.pool.get(name)?.instance === instance;
        const which = current ? '' : ' (previous session, kept until its services moved over)';
        if (current) {
          this.metrics.stateChanges.inc({ discovery: name, state });
          this.metrics.sessionState.set({ discovery: name }, state === 'connected' ? 1 : 0);
        }
        if (state === 'connected') {
          this.logger.info({ discovery: name }, `discovery "${name}" connected${which}`);
          for (const runner of runnersOn(instance, this.runners.values(), this.leaving)) runner.onReconnected();
        } else if (state === 'closed') {
          // Only this reporter closes a session (a stop, a retired discovery file): nothing to warn about.
          this.logger.info({ discovery: name }, `discovery "${name}" closed${which}`);
        } else this.logger.warn({ discovery: name, state }, `discovery "${name}" is ${state}${which}: checks go on, registrations are restored when a session exists`);
      },
      onSession: (sessionId) => {
        if (this.pool.get(name)?.instance === instance) this.metrics.sessions.inc({ discovery: name });
        for (const runner of runnersOn(instance, this.runners.values(), this.leaving)) runner.onSession(sessionId);
      },
      onLost: (service, key, holder) => {
        for (const runner of runnersOn(instance, this.runners.values(), this.leaving)) if (runner.name === service) runner.onLost(key, holder);
        // The holder of a conflicting node may have changed.
        this.syncStateFile();
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
    // Clears a file left by a reporter that did not stop cleanly.
    this.syncStateFile();
    await this.watcher.start();
    this.started = true;
  }

  /** True once the config was read and every service has a runner. */
  get ready(): boolean {
    return this.started;
  }

  /** Each service's runner; during a handover the new runner, with the old one under `handover.from`. */
  status(): ServiceStatus[] {
    return [...this.runners.values()].map((active) => {
      const status = active.runner.status();
      const handover = active.handover;
      if (!handover) return status;
      const detail: HandoverStatus = {
        since: handover.state.since,
        stalled: handover.state.stalled,
        file: handover.file,
        pendingPorts: handover.state.pending(),
        from: handover.from.runner.status(),
      };
      return { ...status, handover: detail };
    });
  }

  runner(service: string): ServiceRunner | undefined {
    return this.runners.get(service)?.runner;
  }

  /** The services that have a runner. */
  serviceNames(): string[] {
    return [...this.runners.keys()];
  }

  /** The service's runner and, during a handover, the one it takes over from: an operator drain applies to both. */
  runnersOf(service: string): ServiceRunner[] {
    const active = this.runners.get(service);
    if (!active) return [];
    return active.handover ? [active.runner, active.handover.from.runner] : [active.runner];
  }

  /** What `lighthouse status` cannot ask this process: stalled handovers and ports yielded to another session. */
  troubles(): ReporterTroubles {
    return collectTroubles([...this.runners.values()], this.portReports, (instance) => this.instanceState.get(instance));
  }

  /** Brings the state file in line (it is written only when the troubles change). */
  private syncStateFile(): void {
    if (this.stateFile && !this.stopped) this.stateFile.update(this.troubles());
  }

  /** For per-port events (check results, registrations): see ReporterStateWriter.updateSoon. */
  private scheduleStateFile(): void {
    if (!this.stopped) this.stateFile?.updateSoon(() => this.troubles());
  }

  /** Closes replaced discovery instances no runner uses any more. */
  private retireUnused(): void {
    const used = new Set<object>();
    for (const active of this.runners.values()) {
      used.add(active.instance);
      if (active.handover) used.add(active.handover.from.instance);
    }
    for (const active of this.leaving) used.add(active.instance);
    const unused = this.retiring.filter((entry) => !used.has(entry.instance));
    if (unused.length === 0) return;
    this.retiring = this.retiring.filter((entry) => used.has(entry.instance));
    this.pool.retire(unused).catch((error: unknown) => this.logger.warn({ err: error }, 'closing a replaced discovery session failed'));
  }

  /**
   * lighthouse_check_up keeps only the checks `service` runs now (none when
   * it is gone): ports that go are pruned on registration events, but a check
   * taken out of a port that stays left its last value on every scrape.
   */
  private pruneCheckSeries(service: string): void {
    const running = runningChecks(service, [this.runners.get(service), ...this.leaving]);
    this.checkUpSeries.pruneTo(service, (labels) => running.has(`${labels.port}\0${labels.check}`));
  }

  /** Stops `active` (its session stays open until it is done), then closes what is unused. */
  private retireRunner(active: ActiveRunner, deregister: boolean): void {
    // Abandoned runners waiting for this one to take their nodes back: it will not any more.
    for (const waiting of this.leaving) {
      if (waiting.reclaim?.by !== active) continue;
      waiting.reclaim.state.cancel();
      waiting.reclaim = undefined;
      this.retireRunner(waiting, deregister);
    }
    this.leaving.add(active);
    void active.runner.stop({ deregister }).finally(() => {
      this.leaving.delete(active);
      // A replaced runner checked until now, maybe with checks its successor does not have.
      if (!this.stopped) this.pruneCheckSeries(active.item.name);
      if (!this.stopped) this.retireUnused();
      this.syncStateFile();
    });
  }

  private async reconcile(next: ConfigSnapshot): Promise<void> {
    if (this.stopped) return;
    const previous = this.snapshot;
    this.snapshot = next;
    applyDaemonSettings(previous, next, this.options.log, previous === this.initialSnapshot);
    const poolChange = this.pool.reconcile(next.discovery);
    this.retiring.push(...poolChange.retired);

    for (const [name, active] of this.runners) {
      if (next.services.has(name)) continue;
      this.runners.delete(name);
      this.logger.info({ service: name }, `service "${name}" removed: deregistering`);
      const from = active.handover?.from;
      this.endHandover(active);
      this.retireRunner(active, true);
      // Mid-handover the old runner holds the registrations: it deregisters too.
      if (from) this.retireRunner(from, true);
      this.registeredSeries.prune(name);
      this.checkUpSeries.prune(name);
      this.portReports.forget(name);
    }

    for (const item of next.services.values()) {
      const pooled = this.pool.get(item.discovery);
      const active = this.runners.get(item.name);
      if (!pooled) {
        if (!this.waitingForDiscovery.has(item.name)) {
          this.waitingForDiscovery.add(item.name);
          // A removed discovery file is more often a mistake than a decommission (which is removing
          // the service file, or stopping the reporter): the runner keeps its session and registrations.
          if (active) this.logger.warn({ service: item.name, file: item.file }, `${item.file}: discovery: "${item.discovery}" is no longer configured (no discovery/${item.discovery}.yaml); the service keeps checking and keeps its registrations on the last session until the file is back or the service is removed`);
          else this.logger.warn({ service: item.name, file: item.file }, `${item.file}: discovery: "${item.discovery}" is not in force (discovery/${item.discovery}.yaml is missing, or invalid: its own line says why); the service waits for it`);
        }
        continue;
      }
      this.waitingForDiscovery.delete(item.name);
      if (active && active.instance === pooled.instance && active.item.hash === item.hash) continue;
      if (active && active.instance === pooled.instance && canUpdateInPlace(active.item, item)) {
        this.warnCheckAddress(item, pooled.item.advertise);
        active.runner.update(item, pooled.item.advertise);
        active.item = item;
        this.pruneCheckSeries(item.name);
        this.logger.info({ service: item.name }, `service "${item.name}" changed: updated in place`);
        continue;
      }
      this.replace(item, pooled, active);
    }
    // Old discovery sessions close only once no runner uses them: after their runners' successors took over.
    this.retireUnused();
    // Removed services and ports take their conflicts with them; a replaced runner ends a handover.
    this.syncStateFile();
  }

  /**
   * Make before break: the new runner registers first, then the old one
   * stops; until then the old one keeps checking and keeps its registrations,
   * however long that takes (an unreachable new discovery stalls the
   * handover, logged and shown in `status`, instead of dropping them). A
   * runner replaced while it is still taking over is dropped, and the
   * handover starts again from the runner whose registrations are in force.
   */
  private replace(item: ServiceItem, pooled: PooledDiscovery, active: ActiveRunner | undefined): void {
    const from = active?.handover?.from ?? active;
    if (active?.handover) {
      this.logger.info({ service: item.name, discovery: active.item.discovery }, `service "${item.name}": the handover to ${active.handover.file} is abandoned (replaced by a newer config); the previous session keeps the registrations`);
      this.endHandover(active);
      from?.runner.reclaimRegistrations();
      if (from && active.item.discovery === from.item.discovery) this.keepUntilReclaimed(active, from);
      // Another discovery's abandoned session stays open after its runner: its registrations are cleaned.
      else this.retireRunner(active, true);
    }
    const runner = this.createRunner(item, pooled);
    const entry: ActiveRunner = { item, runner, instance: pooled.instance };
    this.runners.set(item.name, entry);
    if (!from) {
      runner.start();
      this.logger.info({ service: item.name, ports: item.ports, discovery: item.discovery }, `service "${item.name}" started`);
      return;
    }
    this.logger.info({ service: item.name, file: pooled.item.file }, `service "${item.name}" moves to a new discovery session (${pooled.item.file}): handing over`);
    const sameBackend = from.item.discovery === item.discovery;
    // On the same backend the new session takes the nodes over one by one: the old runner must not take them back.
    if (sameBackend) from.runner.yieldRegistrations();
    const state = new Handover(from.runner, runner, handoverDeadline(from.runner, from.item.intervalMs), () => this.handoverStalled(entry));
    entry.handover = { from, state, file: pooled.item.file };
    runner.start();
    void state.done.then((completed) => {
      if (!completed) return;
      this.logger.info({ service: item.name, file: pooled.item.file }, `service "${item.name}": handover to ${pooled.item.file} finished after ${Math.round((Date.now() - state.since) / 1000)} s; the previous session lets go`);
      this.endHandover(entry);
      // On the same backend the nodes are the new session's now: removing them would remove the new registrations.
      this.retireRunner(from, !sameBackend);
    });
  }

  /**
   * An abandoned runner on the same backend holds the nodes it took over;
   * its session's close would delete them before `from` has written them
   * again (a gap every watcher sees). It stops taking them back and stays,
   * with its session, until `from` (or the next runner) holds them.
   */
  private keepUntilReclaimed(abandoned: ActiveRunner, from: ActiveRunner): void {
    abandoned.runner.yieldRegistrations();
    const state = new Handover(abandoned.runner, from.runner, handoverDeadline(abandoned.runner, abandoned.item.intervalMs), () => undefined);
    abandoned.reclaim = { by: from, state };
    this.leaving.add(abandoned);
    void state.done.then((reclaimed) => {
      if (!reclaimed || abandoned.reclaim?.state !== state) return;
      abandoned.reclaim = undefined;
      this.leaving.delete(abandoned);
      this.retireRunner(abandoned, false);
    });
  }

  private endHandover(active: ActiveRunner): void {
    if (!active.handover) return;
    active.handover.state.cancel();
    active.handover = undefined;
    this.metrics.handoverStalled.set({ service: active.item.name }, 0);
    this.syncStateFile();
  }

  private handoverStalled(active: ActiveRunner): void {
    const handover = active.handover;
    if (!handover || this.stopped) return;
    this.metrics.handoverStalled.set({ service: active.item.name }, 1);
    this.syncStateFile();
    const pending = handover.state.pending();
    const state = this.instanceState.get(active.instance) ?? 'not connected yet';
    this.logger.error(
      { code: 'LH_HANDOVER_STALLED', service: active.item.name, discovery: active.item.discovery, file: handover.file, pendingPorts: pending, state },
      `${handover.file}: service "${active.item.name}" cannot move to discovery "${active.item.discovery}" yet (its session is ${state}; port(s) ${pending.join(', ')} not registered there after ${Math.round((Date.now() - handover.state.since) / 1000)} s); the previous session keeps checking and keeps the registrations until the new one holds them`,
    );
  }

  private warnCheckAddress(item: ServiceItem, discoveryAdvertise: Advertise | undefined): void {
    this.checkAddressWarnings.note(item, advertisedAddress(this.identity!, discoveryAdvertise, item.advertise));
  }

  private createRunner(item: ServiceItem, pooled: PooledDiscovery): ServiceRunner {
    this.warnCheckAddress(item, pooled.item.advertise);
    const runner = new ServiceRunner({
      item,
      discovery: pooled.instance,
      identity: this.identity!,
      discoveryAdvertise: pooled.item.advertise,
      checkPlugins: this.options.registries.checks,
      logger: this.logger.child({ module: `service:${item.name}` }),
      timing: this.options.timing,
    });
    countRunnerEvents(runner, item.name, this.metrics, { registered: this.registeredSeries, checkUp: this.checkUpSeries }, () => this.syncStateFile());
    // The same result again changes nothing `status` shows: the state file is left alone.
    runner.onCheckResult((event) => {
      if (this.portReports.changed(event)) this.scheduleStateFile();
    });
    // Later, too, because the event fires inside the write, before the runner records its outcome.
    runner.onRegistration(() => this.scheduleStateFile());
    const drain = this.options.drains?.drainsFor(item.name);
    if (drain) runner.setDrained(drain.ports, drain.reason);
    return runner;
  }

  /** Deregisters every service at once (not after the session timeout), then closes the sessions. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.watcher.close();
    const stopping: Promise<void>[] = [];
    for (const active of [...this.runners.values(), ...this.leaving]) {
      const from = active.handover?.from;
      this.endHandover(active);
      active.reclaim?.state.cancel();
      // A runner still taking over may hold nothing yet on a session that cannot be reached, where
      // each unpublish would wait out its deadline; closing its session below removes whatever it holds.
      stopping.push(active.runner.stop({ deregister: from === undefined }));
      if (from) stopping.push(from.runner.stop({ deregister: true }));
    }
    await Promise.all(stopping);
    this.runners.clear();
    const retiring = this.retiring;
    this.retiring = [];
    await Promise.all([this.pool.close(), this.pool.retire(retiring), this.stateFile?.close()]);
    this.logger.info('reporter stopped; registrations removed');
  }
}
