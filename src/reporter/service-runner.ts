import type { Logger } from '../lib/logger.js';
import type { Discovery, RegistrationHolder } from '../discovery/types.js';
import { nodeKey, type ClusterNode } from '../discovery/node.js';
import { encodeNode } from '../discovery/codec.js';
import type { Advertise, CheckSpec, ServiceItem } from '../config/model.js';
import { hashOf } from '../config/parse.js';
import type { CheckPlugin } from '../checks/plugin-types.js';
import type { PluginHelper } from '../lib/plugin-helper.js';
import type { Check } from '../checks/types.js';
import { feedRiseFall, initialRiseFall, type RiseFallState } from '../checks/rise-fall.js';
import { Backoff } from '../lib/backoff.js';
import { withDeadline } from '../lib/deadline.js';
import { errorMessage } from '../lib/errors.js';
import { CheckLoop } from './check-loop.js';
import { advertisedAddress, nodeFor, type AdvertisedAddress, type LocalIdentity } from './local-identity.js';
import type { CheckResult, PortStatus, ServiceStatus, CheckResultEvent, TransitionEvent, RegistrationEvent, RunnerPhase, PortConflict, ConflictEvent } from './runner-status.js';

export type { CheckResult, CheckStatus, PortStatus, ServiceStatus, CheckResultEvent, TransitionEvent, RegistrationEvent, RunnerPhase, PortConflict, ConflictEvent } from './runner-status.js';

/** The part of the check registry the runner needs. */
export interface CheckPluginLookup {
  get(kind: string): CheckPlugin | undefined;
}

export interface RunnerTiming {
  /**
   * How often registrations are verified with `isPublished` (one read per
   * registered port). A safety net only: a registration deleted or taken over
   * by someone else is reported at once by the backend (`onLost`) and a lost
   * session by `onSession`. Default: ten check intervals, at least 30 s —
   * reading every port every interval cost 1,000 ZooKeeper requests/s and
   * most of the reporter's CPU at 1,000 ports.
   */
  reconcileMs: number;
  /** Least time between two writes for one port: a flapping port cannot flood the backend; changes in between coalesce. */
  minWriteGapMs: number;
  /** Deadline on every discovery operation, so a hung backend cannot stall a port for good. */
  discoveryTimeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Default deadline of `stop({ deregister: true })`. */
  stopDeadlineMs: number;
}

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

interface PortState {
  port: number;
  checks: Map<string, CheckLoop>;
  up: boolean;
  /** the node we last published (or tried to); null when unpublished */
  registered: ClusterNode | null;
  /** `registered` may not be in the backend: failed write, new session, reconciliation found it missing */
  stale: boolean;
  /** earlier registrations under another `host:port` (advertised host changed), removed once the new one exists */
  orphans: ClusterNode[];
  syncing: boolean;
  syncTimer: ReturnType<typeof setTimeout> | undefined;
  /** skip the write gap until in sync: new session, stop */
  urgent: boolean;
  backoff: Backoff;
  lastWriteAt: number;
  lastError: string | null;
  /** removed from the config: kept only until its registration is gone */
  removed: boolean;
  /** when (performance.now()) another session took the registration, within the conflict window */
  losses: number[];
  /** yielding the registration to another session that keeps taking it */
  conflict: PortConflict | null;
}

/**
 * Two reporters registering the same `host:port` (one machine running two,
 * or two machines with the same host name) take the node from each other
 * about once a second each, forever. After this many takeovers by another
 * session within the window the runner stops taking it back.
 */
const CONFLICT_LOSSES = 3;
const CONFLICT_WINDOW_MS = 60_000;

/** Least time between two "fails differently now" lines of one check. */
const REASON_LOG_GAP_MS = 60_000;

const sameNode = (a: ClusterNode, b: ClusterNode): boolean => encodeNode(a) === encodeNode(b);

/**
 * Runs the health checks of one service (`services/NAME.yaml`) on every port
 * and keeps the registrations in the discovery backend in line with them.
 *
 * - Each check on each port is a CheckLoop (check-loop.ts): its own timer,
 *   aborted at its timeout, never overlapping its previous run.
 * - A port is up while all its checks are up (rise/fall per check). Desired
 *   state: registered while up, running and not drained.
 * - Writes happen on change only, one in flight per port, at most one per
 *   `minWriteGapMs`, retried with backoff on failure. Level-triggered
 *   reconciliation every `reconcileMs` re-publishes a registration the backend
 *   lost; `onSession()` re-publishes everything after a new session.
 */
export class ServiceRunner {
  private item: ServiceItem;
  private discoveryAdvertise: Advertise | undefined;
  private address: AdvertisedAddress;
  private phaseValue: RunnerPhase = 'new';
  private readonly ports = new Map<number, PortState>();
  private readonly drains = new Map<number, string>();
  private drainAllReason: string | null = null;
  private readonly timing: RunnerTiming;
  private readonly timingOverrides: Partial<RunnerTiming>;
  private reconcileTimer: ReturnType<typeof setInterval> | undefined;
  private reconciling = false;
  /** a successor is taking the registrations over: see yieldRegistrations() */
  private handingOver = false;
  private sessionGeneration = 0;
  private settledWaiters: (() => void)[] = [];
  private stopping: Promise<void> | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly checkResultListeners = new Set<(event: CheckResultEvent) => void>();
  private readonly transitionListeners = new Set<(event: TransitionEvent) => void>();
  private readonly registrationListeners = new Set<(event: RegistrationEvent) => void>();
  private readonly conflictListeners = new Set<(event: ConflictEvent) => void>();
  /** the discovery session (or lease) the runner last heard of, to name it in a conflict */
  private sessionId: string | null = null;

  constructor(private readonly options: ServiceRunnerOptions) {
    this.item = options.item;
    this.discoveryAdvertise = options.discoveryAdvertise;
    this.address = advertisedAddress(options.identity, options.discoveryAdvertise, options.item.advertise);
    this.logger = options.logger.child({ module: 'service-runner', service: options.item.name });
    this.now = options.now ?? Date.now;
    this.timingOverrides = options.timing ?? {};
    this.timing = this.resolveTiming();
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
    this.restartReconcileTimer();
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
    Object.assign(this.timing, this.resolveTiming());
    if (this.phaseValue === 'new') return;

    const wanted = new Set(next.ports);
    for (const port of this.ports.values()) {
      if (!wanted.has(port.port) && !port.removed) this.retirePort(port);
    }
    for (const portNumber of next.ports) {
      const port = this.ports.get(portNumber);
      if (!port) this.addPort(portNumber);
      else if (port.removed) this.revivePort(port);
      else this.updateChecks(port, previous);
    }
    if (this.timing.reconcileMs !== previousReconcile) this.restartReconcileTimer();
    for (const port of this.ports.values()) {
      this.evaluatePort(port, 'config change');
      this.requestSync(port);
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
    if (this.stopping) return this.stopping;
    this.stopping = this.doStop(options.deregister, options.deadlineMs ?? this.timing.stopDeadlineMs);
    return this.stopping;
  }

  /**
   * Call from `DiscoveryEvents.onSession`: a new session (after expiry) owns
   * none of the old ephemeral nodes, so everything up is published again at once.
   */
  onSession(sessionId?: string): void {
    if (this.phaseValue !== 'running') return;
    this.sessionGeneration += 1;
    this.sessionId = sessionId ?? null;
    let count = 0;
    for (const port of this.ports.values()) {
      // The new session has no watch on the other's node: it tries again (and yields again after CONFLICT_LOSSES).
      if (port.conflict) this.endConflict(port, 'a new discovery session tries again');
      if (port.registered) port.stale = true;
      if (this.desiredNode(port) || port.registered || port.orphans.length > 0) {
        count += 1;
        port.urgent = true;
        this.requestSync(port, true);
      }
    }
    if (count > 0) this.logger.info({ sessionId }, `service ${this.item.name}: new discovery session, re-registering ${count} port(s)`);
  }

  /**
   * Call when the discovery is connected again (a resumed session too): a
   * write that failed while it was away waits for its backoff, which after a
   * long outage has grown to retryMaxMs (the chaos suite measured 7.5 s
   * after a 150 s ZooKeeper outage); it is retried now instead, so what
   * changed meanwhile is written as soon as the backend is back.
   */
  onReconnected(): void {
    if (this.phaseValue !== 'running') return;
    for (const port of this.ports.values()) {
      if (port.lastError === null || port.syncTimer === undefined || port.syncing) continue;
      clearTimeout(port.syncTimer);
      port.syncTimer = undefined;
      port.backoff.reset();
      this.requestSync(port, true);
    }
  }

  /**
   * Call from `DiscoveryEvents.onLost` (`key` is `host:port`): a registration
   * vanished behind our back. It is written again through the normal path,
   * so the write gap still bounds how often a fight over a node costs a write.
   * Reconciliation finds the same loss without the event, only later.
   */
  onLost(key: string, holder?: RegistrationHolder): void {
    if (this.phaseValue !== 'running') return;
    for (const port of this.ports.values()) {
      if (port.conflict) {
        if (nodeKey({ host: this.address.host, port: port.port }) !== key) continue;
        if (holder) port.conflict.holder = holder;
        else this.endConflict(port, 'the other registration is gone');
        continue;
      }
      if (!port.registered || nodeKey(port.registered) !== key || port.stale) continue;
      if (this.handingOver) {
        this.logger.info({ port: port.port, node: key }, `service ${this.item.name} port ${port.port}: registration ${key} was taken over or removed while handing over to a new session; not taking it back`);
        continue;
      }
      if (holder && this.lostAgain(port)) {
        this.startConflict(port, key, holder);
        continue;
      }
      this.logger.warn({ port: port.port, node: key }, `service ${this.item.name} port ${port.port}: registration ${key} was removed from discovery ${this.item.discovery}; publishing it again if still wanted`);
      port.stale = true;
      this.requestSync(port);
    }
  }

  /**
   * This runner is being replaced by one on a new session of the same
   * discovery, which takes its registrations over node by node: a loss is
   * then the successor's doing and must not be fought back (the two would
   * take the node from each other forever). Checks and writes go on, so the
   * registrations still follow health while the successor is not there yet.
   */
  yieldRegistrations(): void {
    this.handingOver = true;
  }

  /**
   * The handover was abandoned (the successor was replaced before it took
   * over): registrations the successor's session took are this runner's
   * again, so every registration is verified by writing it once more.
   */
  reclaimRegistrations(): void {
    if (!this.handingOver) return;
    this.handingOver = false;
    if (this.phaseValue !== 'running') return;
    for (const port of this.ports.values()) {
      if (!port.registered) continue;
      port.stale = true;
      port.urgent = true;
      this.requestSync(port, true);
    }
  }

  /**
   * Keeps checking but keeps the ports unregistered (unpublished now if they
   * are registered). `'all'` also covers ports added later. Drains of ports
   * the service does not have (yet) are remembered.
   */
  setDrained(ports: readonly number[] | 'all', reason: string): void {
    const affected = ports === 'all' ? [...this.ports.keys()] : [...ports];
    if (ports === 'all') this.drainAllReason = reason;
    for (const port of affected) this.drains.set(port, reason);
    this.logger.info({ ports: affected, reason }, `service ${this.item.name}: draining port(s) ${ports === 'all' ? 'all' : affected.join(', ')}: ${reason}`);
    this.syncPorts(affected);
  }

  /** Ends a drain; the port registers again if it is up. `'all'` clears every drain of this service. */
  undrain(ports: readonly number[] | 'all'): void {
    const affected = ports === 'all' ? [...new Set([...this.drains.keys(), ...this.ports.keys()])] : [...ports];
    if (ports === 'all') this.drainAllReason = null;
    for (const port of affected) this.drains.delete(port);
    this.logger.info({ ports: affected }, `service ${this.item.name}: drain ended for port(s) ${ports === 'all' ? 'all' : affected.join(', ')}`);
    this.syncPorts(affected);
  }

  status(): ServiceStatus {
    const ports = [...this.ports.values()]
      .filter((port) => !port.removed)
      .sort((a, b) => a.port - b.port)
      .map(
        (port): PortStatus => ({
          port: port.port,
          up: port.up,
          registered: port.registered !== null && !port.stale,
          drained: this.drains.get(port.port) ?? null,
          node: nodeKey({ host: this.address.host, port: port.port }),
          lastError: port.lastError,
          conflict: port.conflict,
          checks: [...port.checks.values()].map((loop) => ({
            kind: loop.spec.kind,
            up: loop.state.up,
            passes: loop.state.passes,
            fails: loop.state.fails,
            rise: loop.spec.rise,
            fall: loop.spec.fall,
            running: loop.running,
            last: loop.last,
          })),
        }),
      );
    return { service: this.item.name, discovery: this.item.discovery, phase: this.phaseValue, ports };
  }

  /** Ports with a registration this runner holds or is (re)writing: what a successor must hold before this runner may stop. */
  claimedPorts(): number[] {
    return [...this.ports.values()].filter((port) => port.registered !== null && !port.removed).map((port) => port.port);
  }

  /** A port started or stopped yielding its registration to another session. */
  onConflict(listener: (event: ConflictEvent) => void): () => void {
    return subscribe(this.conflictListeners, listener);
  }

  /** Counts a takeover by another session; true once they come too often to be a restart or a handover. */
  private lostAgain(port: PortState): boolean {
    const now = performance.now();
    port.losses = [...port.losses.filter((at) => now - at < CONFLICT_WINDOW_MS), now];
    return port.losses.length >= CONFLICT_LOSSES;
  }

  /**
   * Stops taking the node back: the other session keeps it (it serves the
   * same host:port, so traffic still arrives), and the backend's watch tells
   * when it is gone, when this runner registers again. Not unpublished: the
   * node is not ours, removing it would remove the other's registration.
   */
  private startConflict(port: PortState, key: string, holder: RegistrationHolder): void {
    if (port.syncTimer !== undefined) clearTimeout(port.syncTimer);
    port.syncTimer = undefined;
    port.registered = null;
    port.stale = false;
    port.conflict = { holder, session: this.sessionId, since: this.now() };
    const ours = `session ${this.sessionId ?? '(unknown)'} (${this.address.host} ${this.address.ip})`;
    const theirs = `session ${holder.session}${holder.host ? ` (${holder.host}${holder.ip ? ` ${holder.ip}` : ''})` : ''}`;
    this.logger.error(
      { code: 'LH_REGISTRATION_CONFLICT', port: port.port, node: key, session: this.sessionId, holderSession: holder.session, holderHost: holder.host, holderIp: holder.ip },
      `service ${this.item.name} port ${port.port}: registration ${key} on discovery ${this.item.discovery} was taken by another session ${port.losses.length} times within ${CONFLICT_WINDOW_MS / 1000} s: ours is ${ours}, the other is ${theirs}. Two reporters register the same host:port (two on one machine, or two machines with the same host name or advertise.host); this one stops taking it back and registers again when the other's node is gone`,
    );
    emit(this.logger, this.conflictListeners, { service: this.item.name, port: port.port, node: key, conflict: true });
    this.notifySettled();
  }

  private endConflict(port: PortState, why: string): void {
    const node = nodeKey({ host: this.address.host, port: port.port });
    port.conflict = null;
    port.losses = [];
    this.logger.info({ port: port.port, node }, `service ${this.item.name} port ${port.port}: registration conflict over ${node} ended (${why}); registering again if wanted`);
    emit(this.logger, this.conflictListeners, { service: this.item.name, port: port.port, node, conflict: false });
    this.requestSync(port, true);
  }

  /** Every check result. Returns an unsubscribe function. */
  onCheckResult(listener: (event: CheckResultEvent) => void): () => void {
    return subscribe(this.checkResultListeners, listener);
  }

  /** A port went up or down (before the resulting registration write). */
  onTransition(listener: (event: TransitionEvent) => void): () => void {
    return subscribe(this.transitionListeners, listener);
  }

  /** Every publish/unpublish attempt and whether it worked. */
  onRegistration(listener: (event: RegistrationEvent) => void): () => void {
    return subscribe(this.registrationListeners, listener);
  }

  // --- ports and checks ---

  private resolveTiming(): RunnerTiming {
    return {
      reconcileMs: Math.max(this.item.intervalMs * 10, 30_000),
      minWriteGapMs: 1000,
      discoveryTimeoutMs: 10_000,
      retryInitialMs: 200,
      retryMaxMs: 10_000,
      stopDeadlineMs: 5000,
      ...this.timingOverrides,
    };
  }

  private addPort(portNumber: number): void {
    const port: PortState = {
      port: portNumber,
      checks: new Map(),
      up: false,
      registered: null,
      stale: false,
      orphans: [],
      syncing: false,
      syncTimer: undefined,
      urgent: false,
      backoff: new Backoff(this.timing.retryInitialMs, this.timing.retryMaxMs),
      lastWriteAt: Number.NEGATIVE_INFINITY,
      lastError: null,
      removed: false,
      losses: [],
      conflict: null,
    };
    if (this.drainAllReason !== null && !this.drains.has(portNumber)) this.drains.set(portNumber, this.drainAllReason);
    this.ports.set(portNumber, port);
    for (const spec of this.item.checks) this.addLoop(port, spec, initialRiseFall(false), null);
  }

  /** A port removed and added back before its unpublish finished: it starts over, down. */
  private revivePort(port: PortState): void {
    port.removed = false;
    port.up = false;
    if (this.drainAllReason !== null && !this.drains.has(port.port)) this.drains.set(port.port, this.drainAllReason);
    for (const spec of this.item.checks) this.addLoop(port, spec, initialRiseFall(false), null);
  }

  private retirePort(port: PortState): void {
    port.removed = true;
    port.up = false;
    for (const loop of port.checks.values()) this.retireLoop(loop, 'port removed from the config');
    port.checks.clear();
    this.logger.info(`service ${this.item.name} port ${port.port}: removed from the config`);
  }

  private updateChecks(port: PortState, previous: ServiceItem): void {
    const wanted = new Map(this.item.checks.map((spec) => [spec.kind, spec]));
    for (const [kind, loop] of port.checks) {
      if (!wanted.has(kind)) {
        this.retireLoop(loop, 'check removed from the config');
        port.checks.delete(kind);
      }
    }
    for (const spec of this.item.checks) {
      const loop = port.checks.get(spec.kind);
      if (!loop) {
        this.addLoop(port, spec, initialRiseFall(port.up), null);
      } else if (loop.identity !== this.checkIdentity(spec)) {
        this.retireLoop(loop, 'check settings changed');
        this.addLoop(port, spec, loop.state, loop.last);
      } else {
        loop.spec = spec;
        if (this.item.intervalMs !== previous.intervalMs) loop.intervalChanged();
      }
    }
  }

  private checkIdentity(spec: CheckSpec): string {
    return hashOf({ kind: spec.kind, timeoutMs: spec.timeoutMs, config: spec.config, host: this.item.host });
  }

  private addLoop(port: PortState, spec: CheckSpec, state: RiseFallState, last: CheckResult | null): void {
    const loop: CheckLoop = new CheckLoop(spec, this.checkIdentity(spec), this.createCheck(port.port, spec), state, last, {
      intervalMs: () => this.item.intervalMs,
      active: () => this.phaseValue === 'running',
      now: this.now,
      onResult: (result) => this.record(port, loop, result),
    });
    port.checks.set(spec.kind, loop);
    loop.start();
  }

  private retireLoop(loop: CheckLoop, why: string): void {
    try {
      loop.retire(why);
    } catch (error) {
      this.logger.warn(`service ${this.item.name} check ${loop.spec.kind}: close failed: ${errorMessage(error)}`);
    }
  }

  private createCheck(port: number, spec: CheckSpec): Check {
    const where = `service ${this.item.name} port ${port} check ${spec.kind}`;
    const plugin = this.options.checkPlugins.get(spec.kind);
    if (!plugin) return failingCheck(`no check plugin "${spec.kind}" is registered`);
    const helper: PluginHelper = {
      logger: this.logger.child({ port, check: spec.kind }),
      name: this.item.name,
      file: this.item.file,
      now: this.now,
    };
    try {
      return plugin.create(spec.config, { host: this.item.host, port }, helper);
    } catch (error) {
      this.logger.error(`${where}: could not be created: ${errorMessage(error)}`);
      return failingCheck(`check plugin "${spec.kind}" could not be created: ${errorMessage(error)}`);
    }
  }

  private record(port: PortState, loop: CheckLoop, result: CheckResult): void {
    loop.last = result;
    loop.state = feedRiseFall(loop.state, result.passed, { rise: loop.spec.rise, fall: loop.spec.fall }).state;
    this.logResult(port, loop, result);
    emit(this.logger, this.checkResultListeners, {
      ...result,
      service: this.item.name,
      port: port.port,
      check: loop.spec.kind,
      up: loop.state.up,
    });
    this.evaluatePort(port, `check ${loop.spec.kind}: ${result.detail}`);
  }

  /**
   * One line per failure episode, not per run: a flapping check logged a
   * warning on every failed run (269 a minute in #11). An episode starts with
   * a failed run and ends once the check is up with `rise` passes in a row;
   * within it a changed reason is logged again, at most once a minute (a
   * reason can carry a response body that differs on every run). Every run
   * is counted in `lighthouse_checks_total` and shown in `status`.
   */
  private logResult(port: PortState, loop: CheckLoop, result: CheckResult): void {
    const where = `service ${this.item.name} port ${port.port} check ${loop.spec.kind}`;
    const fields = { port: port.port, check: loop.spec.kind };
    const episode = loop.failureLog;
    if (!result.passed) {
      if (episode === null) {
        loop.failureLog = { detail: result.detail, loggedAt: performance.now(), suppressed: 0 };
        this.logger.warn(fields, `${where} failed: ${result.detail}`);
      } else if (result.detail !== episode.detail && performance.now() - episode.loggedAt >= REASON_LOG_GAP_MS) {
        const repeats = episode.suppressed > 0 ? ` (${episode.suppressed} failed run(s) since the last line)` : '';
        this.logger.warn(fields, `${where} fails differently now: ${result.detail}${repeats}`);
        loop.failureLog = { detail: result.detail, loggedAt: performance.now(), suppressed: 0 };
      } else episode.suppressed += 1;
    } else if (episode !== null && loop.state.up && loop.state.passes >= loop.spec.rise) {
      loop.failureLog = null;
      this.logger.info(fields, `${where} passes again: ${result.detail}`);
    }
    if (this.logger.isLevelEnabled('debug')) this.logger.debug({ ...fields, passed: result.passed }, `${where}: ${result.detail}`);
  }

  private evaluatePort(port: PortState, cause: string): void {
    if (port.removed) return;
    let up = port.checks.size > 0;
    for (const loop of port.checks.values()) up &&= loop.state.up;
    if (up === port.up) return;
    port.up = up;
    this.logger.info({ port: port.port, up }, `service ${this.item.name} port ${port.port} is ${up ? 'up' : 'down'} (${cause})`);
    emit(this.logger, this.transitionListeners, { service: this.item.name, port: port.port, up, at: this.now(), cause });
    this.requestSync(port);
  }

  // --- registration ---

  private desiredNode(port: PortState): ClusterNode | null {
    if (this.phaseValue !== 'running' || port.removed || !port.up || this.drains.has(port.port)) return null;
    return nodeFor(this.address, port.port, this.item.metadata);
  }

  private syncPorts(ports: readonly number[]): void {
    for (const portNumber of ports) {
      const port = this.ports.get(portNumber);
      if (port) this.requestSync(port);
    }
  }

  /**
   * One write in flight per port; a request while one is in flight, or while
   * a retry or the write gap is pending, is folded into it: whatever runs next
   * writes the state wanted at that moment, so flaps in between cost nothing.
   */
  private requestSync(port: PortState, urgent = false): void {
    if (this.phaseValue === 'stopped' || this.phaseValue === 'new') return;
    if (port.syncing) return;
    if (port.syncTimer !== undefined) {
      if (!urgent) return;
      clearTimeout(port.syncTimer);
      port.syncTimer = undefined;
    }
    const skipGap = urgent || port.urgent || this.phaseValue === 'stopping';
    const wait = skipGap ? 0 : port.lastWriteAt + this.timing.minWriteGapMs - performance.now();
    if (wait > 0) {
      port.syncTimer = setTimeout(() => {
        port.syncTimer = undefined;
        this.requestSync(port);
      }, wait);
      return;
    }
    void this.syncStep(port);
  }

  private async syncStep(port: PortState): Promise<void> {
    if (port.conflict) {
      // Yielded to another session (startConflict): nothing of ours to write until it ends.
      port.urgent = false;
      if (port.removed) this.ports.delete(port.port);
      this.notifySettled();
      return;
    }
    const desired = this.desiredNode(port);
    const registered = port.registered;
    const publishNeeded = desired !== null && (registered === null || port.stale || !sameNode(registered, desired));
    const unpublishNeeded = desired === null && registered !== null;
    const orphan = !publishNeeded && !unpublishNeeded ? port.orphans[0] : undefined;
    if (!publishNeeded && !unpublishNeeded && orphan === undefined) {
      port.urgent = false;
      if (port.removed && registered === null) this.ports.delete(port.port);
      this.notifySettled();
      return;
    }

    port.syncing = true;
    port.lastWriteAt = performance.now();
    const generation = this.sessionGeneration;
    let failed = false;
    try {
      if (publishNeeded) {
        // Make before break: a registration under a new host:port goes in
        // before the old one comes out.
        if (registered !== null && nodeKey(registered) !== nodeKey(desired)) port.orphans.push(registered);
        port.registered = desired;
        port.stale = true;
        await this.write('publish', port, desired);
        // A session that changed during the write may not hold it.
        if (generation === this.sessionGeneration && port.registered === desired) port.stale = false;
        this.written('publish', port, desired);
      } else if (unpublishNeeded) {
        await this.write('unpublish', port, registered);
        if (port.registered === registered) {
          port.registered = null;
          port.stale = false;
        }
        this.written('unpublish', port, registered);
      } else if (orphan !== undefined) {
        await this.write('unpublish', port, orphan);
        port.orphans = port.orphans.filter((node) => node !== orphan);
        this.written('unpublish', port, orphan);
      }
      port.backoff.reset();
      port.lastError = null;
    } catch (error) {
      failed = true;
      port.lastError = errorMessage(error);
      if (this.phaseValue !== 'stopped') {
        const delay = port.backoff.next();
        port.syncTimer = setTimeout(() => {
          port.syncTimer = undefined;
          this.requestSync(port);
        }, delay);
      }
    } finally {
      port.syncing = false;
      this.notifySettled();
    }
    if (!failed) this.requestSync(port);
  }

  private async write(action: 'publish' | 'unpublish', port: PortState, node: ClusterNode): Promise<void> {
    const service = this.item.name;
    const key = nodeKey(node);
    const discovery = this.options.discovery;
    try {
      // Inside the try: a plugin that throws at once (e.g. a name it cannot hold) is logged with the file like any failure.
      const operation = action === 'publish' ? discovery.publish(service, node) : discovery.unpublish(service, { host: node.host, port: node.port });
      await withDeadline(operation, this.timing.discoveryTimeoutMs, () => new Error(`${action} did not finish within ${this.timing.discoveryTimeoutMs} ms`));
    } catch (error) {
      const message = `${this.item.file}: service ${service} port ${port.port}: ${action} of ${key} on discovery ${this.item.discovery} failed: ${errorMessage(error)}`;
      this.logger.warn({ port: port.port, node: key, file: this.item.file }, message);
      emit(this.logger, this.registrationListeners, { service, port: port.port, node: key, action, ok: false, error: message, at: this.now() });
      throw new Error(message, { cause: error });
    }
  }

  /** Told after the port's own state reflects the write, so listeners reading `status()` see it. */
  private written(action: 'publish' | 'unpublish', port: PortState, node: ClusterNode): void {
    const service = this.item.name;
    const key = nodeKey(node);
    this.logger.info({ port: port.port, node: key }, `service ${service} port ${port.port}: ${action === 'publish' ? 'registered' : 'deregistered'} ${key}`);
    emit(this.logger, this.registrationListeners, { service, port: port.port, node: key, action, ok: true, at: this.now() });
  }

  private restartReconcileTimer(): void {
    if (this.reconcileTimer !== undefined) clearInterval(this.reconcileTimer);
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.timing.reconcileMs);
  }

  /** Level-triggered: asks the backend whether each registration we believe in is really there. */
  private async reconcile(): Promise<void> {
    if (this.reconciling || this.phaseValue !== 'running') return;
    this.reconciling = true;
    try {
      await Promise.all([...this.ports.values()].map((port) => this.reconcilePort(port)));
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcilePort(port: PortState): Promise<void> {
    const desired = this.desiredNode(port);
    const registered = port.registered;
    if (this.handingOver || !desired || !registered || port.stale || port.syncing || port.syncTimer !== undefined || !sameNode(registered, desired)) return;
    let present: boolean;
    try {
      present = await withDeadline(this.options.discovery.isPublished(this.item.name, registered), this.timing.discoveryTimeoutMs, () => new Error('isPublished timed out'));
    } catch (error) {
      // Unknown is not missing: the session events and write retries cover an unreachable backend.
      this.logger.debug({ port: port.port }, `service ${this.item.name} port ${port.port}: reconciliation check failed: ${errorMessage(error)}`);
      return;
    }
    if (present || port.registered !== registered || port.stale || port.syncing) return;
    this.logger.warn({ port: port.port, node: nodeKey(registered) }, `service ${this.item.name} port ${port.port}: registration ${nodeKey(registered)} is missing from discovery ${this.item.discovery}; publishing it again`);
    port.stale = true;
    this.requestSync(port);
  }

  private notifySettled(): void {
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private async doStop(deregister: boolean, deadlineMs: number): Promise<void> {
    const wasRunning = this.phaseValue === 'running';
    this.phaseValue = 'stopping';
    if (this.reconcileTimer !== undefined) clearInterval(this.reconcileTimer);
    this.reconcileTimer = undefined;
    for (const port of this.ports.values()) {
      for (const loop of port.checks.values()) this.retireLoop(loop, `service ${this.item.name} stopped`);
    }
    if (deregister && wasRunning) {
      const deadline = performance.now() + deadlineMs;
      for (const port of this.ports.values()) {
        port.urgent = true;
        this.requestSync(port, true);
      }
      while (this.leftRegistered().length > 0 && performance.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
          this.settledWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const left = this.leftRegistered();
      if (left.length > 0) this.logger.warn({ nodes: left }, `service ${this.item.name}: could not deregister ${left.join(', ')} within ${deadlineMs} ms; they disappear when the session ends`);
    }
    this.phaseValue = 'stopped';
    for (const port of this.ports.values()) {
      if (port.syncTimer !== undefined) clearTimeout(port.syncTimer);
      port.syncTimer = undefined;
    }
    this.notifySettled();
    this.logger.info(`service ${this.item.name}: stopped${deregister ? ' and deregistered' : ''}`);
  }

  private leftRegistered(): string[] {
    const left: string[] = [];
    for (const port of this.ports.values()) {
      if (port.registered) left.push(nodeKey(port.registered));
      for (const orphan of port.orphans) left.push(nodeKey(orphan));
    }
    return left;
  }
}

function subscribe<E>(listeners: Set<(event: E) => void>, listener: (event: E) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A listener that throws (metrics, status) must not break the runner. */
function emit<E>(logger: Logger, listeners: Set<(event: E) => void>, event: E): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch (error) {
      logger.error(`service runner event listener failed: ${errorMessage(error)}`);
    }
  }
}

/** Stands in for a check that cannot run (unknown plugin, failed create), so the port stays down and says why. */
function failingCheck(detail: string): Check {
  return { run: () => Promise.resolve({ passed: false, detail }) };
}
