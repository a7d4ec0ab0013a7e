import type { Logger } from '../lib/logger.js';
import type { Discovery, RegistrationHolder } from '../discovery/types.js';
import type { Advertise, ServiceItem } from '../config/model.js';
import { advertisedAddress, type AdvertisedAddress, type LocalIdentity } from './local-identity.js';
import { PortHealth, type CheckPluginLookup } from './port-health.js';
import { checkHost } from './check-address.js';
import { PortRegistrations } from './port-registration.js';
import { resolveTiming, type RunnerTiming } from './runner-timing.js';
import type { ServiceStatus, CheckResultEvent, TransitionEvent, RegistrationEvent, RunnerPhase, ConflictEvent } from './runner-status.js';

export type { CheckResult, CheckStatus, PortStatus, ServiceStatus, CheckResultEvent, TransitionEvent, RegistrationEvent, RunnerPhase, PortConflict, ConflictEvent } from './runner-status.js';
export type { CheckPluginLookup } from './port-health.js';
export type { RunnerTiming } from './runner-timing.js';

export interface ServiceRunnerOptions {
  item: ServiceItem;
  discovery: Discovery;
  /** resolved once per daemon with `resolveLocalIdentity()` */
  identity: LocalIdentity;
  /** `advertise` of the discovery file; the service file's own `advertise` wins over it */
  discoveryAdvertise?: Advertise;
  checkPlugins: CheckPluginLookup;
  logger: Logger;
  /** wall clock for timestamps */
  now?: () => number;
  timing?: Partial<RunnerTiming>;
}

/** Can `update(next)` replace `current` in place, or does the daemon need a new runner? */
export function canUpdateInPlace(current: ServiceItem, next: ServiceItem): boolean {
  return current.name === next.name && current.discovery === next.discovery;
}

/**
 * Runs the health checks of one service (`services/NAME.yaml`) on every port
 * and keeps the registrations in the discovery backend in line with them.
 * The runner only assembles: port-health.ts decides whether each port is up
 * (checks, rise/fall), port-registration.ts writes what that means to
 * discovery (drains, sessions, handovers, conflicts); this file owns the
 * service's config and the runner's life (start, update, stop) and the
 * events and status the daemon reads.
 */
export class ServiceRunner {
  private item: ServiceItem;
  private discoveryAdvertise: Advertise | undefined;
  private address: AdvertisedAddress;
  private phaseValue: RunnerPhase = 'new';
  private readonly timing: RunnerTiming;
  private readonly timingOverrides: Partial<RunnerTiming>;
  private stopping: Promise<void> | undefined;
  private readonly logger: Logger;
  private readonly health: PortHealth;
  private readonly registrations: PortRegistrations;

  constructor(private readonly options: ServiceRunnerOptions) {
    this.item = options.item;
    this.discoveryAdvertise = options.discoveryAdvertise;
    this.address = advertisedAddress(options.identity, options.discoveryAdvertise, options.item.advertise);
    this.logger = options.logger.child({ module: 'service-runner', service: options.item.name });
    const now = options.now ?? Date.now;
    this.timingOverrides = options.timing ?? {};
    this.timing = resolveTiming(this.item, this.timingOverrides);
    this.registrations = new PortRegistrations({
      discovery: options.discovery,
      logger: this.logger,
      now,
      timing: this.timing,
      item: () => this.item,
      address: () => this.address,
      phase: () => this.phaseValue,
      isUp: (port) => this.health.isUp(port),
    });
    this.health = new PortHealth({
      checkPlugins: options.checkPlugins,
      logger: this.logger,
      now,
      item: () => this.item,
      checkHost: () => checkHost(this.item, this.address),
      running: () => this.phaseValue === 'running',
      onChange: (port) => this.registrations.sync(port),
    });
  }

  get name(): string {
    return this.item.name;
  }

  get phase(): RunnerPhase {
    return this.phaseValue;
  }

  /** Starts checking every port; ports start down and register after `rise` passes of every check. */
  start(): void {
    if (this.phaseValue !== 'new') throw new Error(`service ${this.item.name}: runner already started`);
    this.phaseValue = 'running';
    for (const port of this.item.ports) this.addPort(port);
    this.registrations.restartReconcileTimer();
    this.logger.info({ ports: this.item.ports, checks: this.item.checks.map((check) => check.kind) }, `service ${this.item.name}: checking ports ${this.item.ports.join(', ')}`);
  }

  /**
   * Replaces the config make-before-break: unchanged checks keep their state,
   * changed checks get a new instance but keep their rise/fall state, a check
   * added to a port that is up starts up (it must fail `fall` times to take the
   * port down), so a metadata or check-settings change never deregisters a
   * healthy port; registered ports are re-published with the new data in place.
   * Removed ports are unpublished, added ports start down. Use
   * `canUpdateInPlace()` first: a change of name or discovery needs a new runner.
   */
  update(next: ServiceItem, discoveryAdvertise: Advertise | undefined = this.discoveryAdvertise): void {
    if (!canUpdateInPlace(this.item, next)) {
      throw new Error(`service ${this.item.name}: cannot update in place to service ${next.name} on discovery ${next.discovery}; start a new runner`);
    }
    if (this.phaseValue === 'stopping' || this.phaseValue === 'stopped') return;
    const previous = this.item;
    this.item = next;
    this.discoveryAdvertise = discoveryAdvertise;
    this.address = advertisedAddress(this.options.identity, discoveryAdvertise, next.advertise);
    const previousReconcile = this.timing.reconcileMs;
    Object.assign(this.timing, resolveTiming(next, this.timingOverrides));
    if (this.phaseValue === 'new') return;

    const wanted = new Set(next.ports);
    for (const port of this.registrations.portNumbers()) {
      if (wanted.has(port) || this.registrations.portState(port) !== 'configured') continue;
      this.registrations.retire(port);
      this.health.retire(port);
    }
    for (const port of next.ports) {
      const known = this.registrations.portState(port);
      if (known === 'absent') this.addPort(port);
      else if (known === 'removed') {
        this.registrations.revive(port);
        this.health.add(port);
      } else this.health.update(port, previous);
    }
    if (this.timing.reconcileMs !== previousReconcile) this.registrations.restartReconcileTimer();
    for (const port of this.registrations.portNumbers()) {
      this.health.evaluate(port, 'config change');
      this.registrations.sync(port);
    }
    this.logger.info({ ports: next.ports }, `service ${next.name}: config updated`);
  }

  /**
   * Stops checking (in-flight checks are aborted). With `deregister`, removes
   * every registration this runner made and resolves when they are gone or at
   * the deadline (what is left is logged; ephemeral nodes still go with the
   * session). The runner cannot be started again.
   */
  stop(options: { deregister: boolean; deadlineMs?: number }): Promise<void> {
    this.stopping ??= this.doStop(options.deregister, options.deadlineMs ?? this.timing.stopDeadlineMs);
    return this.stopping;
  }

  /**
   * Call from `DiscoveryEvents.onSession`: a new session (after expiry) owns
   * none of the old ephemeral nodes, so everything up is published again at once.
   */
  onSession(sessionId?: string): void {
    if (this.phaseValue === 'running') this.registrations.onSession(sessionId);
  }

  /**
   * Call when the discovery is connected again (a resumed session too): a
   * write that failed while it was away waits for its backoff, which after a
   * long outage has grown to retryMaxMs (the chaos suite measured 7.5 s
   * after a 150 s ZooKeeper outage); it is retried now instead, so what
   * changed meanwhile is written as soon as the backend is back.
   */
  onReconnected(): void {
    if (this.phaseValue === 'running') this.registrations.onReconnected();
  }

  /**
   * Call from `DiscoveryEvents.onLost` (`key` is `host:port`): a registration
   * vanished behind our back. It is written again through the normal path,
   * so the write gap still bounds how often a fight over a node costs a write.
   * Reconciliation finds the same loss without the event, only later.
   */
  onLost(key: string, holder?: RegistrationHolder): void {
    if (this.phaseValue === 'running') this.registrations.onLost(key, holder);
  }

  /**
   * This runner is being replaced by one on a new session of the same
   * discovery, which takes its registrations over node by node: a loss is
   * then the successor's doing and must not be fought back (the two would
   * take the node from each other forever). Checks and writes go on, so the
   * registrations still follow health while the successor is not there yet.
   */
  yieldRegistrations(): void {
    this.registrations.yieldAll();
  }

  /**
   * The handover was abandoned (the successor was replaced before it took
   * over): registrations the successor's session took are this runner's
   * again, so every registration is verified by writing it once more.
   */
  reclaimRegistrations(): void {
    this.registrations.reclaimAll();
  }

  /**
   * Keeps checking but keeps the ports unregistered (unpublished now if they
   * are registered). `'all'` also covers ports added later. Drains of ports
   * the service does not have (yet) are remembered.
   */
  setDrained(ports: readonly number[] | 'all', reason: string): void {
    this.registrations.setDrained(ports, reason);
  }

  /** Ends a drain; the port registers again if it is up. `'all'` clears every drain of this service. */
  undrain(ports: readonly number[] | 'all'): void {
    this.registrations.undrain(ports);
  }

  status(): ServiceStatus {
    const ports = this.registrations.configuredPorts().map((port) => ({
      port,
      up: this.health.isUp(port),
      ...this.registrations.status(port),
      checks: this.health.checks(port),
    }));
    return { service: this.item.name, discovery: this.item.discovery, phase: this.phaseValue, ports };
  }

  /** Ports with a registration this runner holds or is (re)writing: what a successor must hold before this runner may stop. */
  claimedPorts(): number[] {
    return this.registrations.claimedPorts();
  }

  /** A port started or stopped yielding its registration to another session. */
  onConflict(listener: (event: ConflictEvent) => void): () => void {
    return this.registrations.conflictEvents.add(listener);
  }

  /** Every check result. Returns an unsubscribe function. */
  onCheckResult(listener: (event: CheckResultEvent) => void): () => void {
    return this.health.checkResults.add(listener);
  }

  /** A port went up or down (before the resulting registration write). */
  onTransition(listener: (event: TransitionEvent) => void): () => void {
    return this.health.transitions.add(listener);
  }

  /** Every publish/unpublish attempt and whether it worked. */
  onRegistration(listener: (event: RegistrationEvent) => void): () => void {
    return this.registrations.registrationEvents.add(listener);
  }

  /** Registration first: a check that answers at once finds its port there. */
  private addPort(port: number): void {
    this.registrations.add(port);
    this.health.add(port);
  }

  private async doStop(deregister: boolean, deadlineMs: number): Promise<void> {
    const wasRunning = this.phaseValue === 'running';
    this.phaseValue = 'stopping';
    this.registrations.stopReconciling();
    this.health.stop(`service ${this.item.name} stopped`);
    if (deregister && wasRunning) await this.registrations.deregisterAll(deadlineMs);
    this.phaseValue = 'stopped';
    this.registrations.halt();
    this.logger.info(`service ${this.item.name}: stopped${deregister ? ' and deregistered' : ''}`);
  }
}
