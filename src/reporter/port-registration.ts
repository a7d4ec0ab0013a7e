import type { Logger } from '../lib/logger.js';
import type { Discovery, RegistrationHolder } from '../discovery/types.js';
import { nodeKey, type ClusterNode } from '../discovery/node.js';
import type { ServiceItem } from '../config/model.js';
import { Backoff } from '../lib/backoff.js';
import { nodeFor, type AdvertisedAddress } from './local-identity.js';
import type { Listeners } from './runner-events.js';
import { RegistrationConflicts } from './registration-conflict.js';
import { RegistrationSync, type PortRegistration } from './registration-sync.js';
import type { RunnerTiming } from './runner-timing.js';
import type { ConflictEvent, PortStatus, RegistrationEvent, RunnerPhase } from './runner-status.js';

export interface PortRegistrationOptions {
  discovery: Discovery;
  logger: Logger;
  /** wall clock for timestamps */
  now: () => number;
  /** the runner's timing; the runner updates it in place on a config change */
  timing: RunnerTiming;
  item: () => ServiceItem;
  address: () => AdvertisedAddress;
  phase: () => RunnerPhase;
  /** the port's health (port-health.ts) */
  isUp: (port: number) => boolean;
}

/**
 * Keeps one service's registrations in the discovery backend in line with
 * its ports' health, drains, discovery sessions and handovers. Desired state:
 * registered while up, running and not drained. The writes themselves are
 * registration-sync.ts's job; a port another session keeps taking is yielded
 * (registration-conflict.ts).
 */
export class PortRegistrations {
  private readonly ports = new Map<number, PortRegistration>();
  private readonly drains = new Map<number, string>();
  private drainAllReason: string | null = null;
  private reconcileTimer: ReturnType<typeof setInterval> | undefined;
  /** a successor is taking the registrations over: see yieldAll() */
  private handingOver = false;
  private sessionGeneration = 0;
  private settledWaiters: (() => void)[] = [];
  private readonly writes: RegistrationSync;
  private readonly conflicts: RegistrationConflicts;
  private readonly logger: Logger;

  constructor(private readonly options: PortRegistrationOptions) {
    this.logger = options.logger;
    this.writes = new RegistrationSync({
      ports: this.ports,
      discovery: options.discovery,
      logger: options.logger,
      now: options.now,
      timing: options.timing,
      item: options.item,
      phase: options.phase,
      desiredNode: (port) => this.desiredNode(port),
      sessionGeneration: () => this.sessionGeneration,
      handingOver: () => this.handingOver,
      settled: () => this.notifySettled(),
    });
    this.conflicts = new RegistrationConflicts({
      logger: options.logger,
      now: options.now,
      item: options.item,
      address: options.address,
      requestSync: (port) => this.requestSync(port, true),
      settled: () => this.notifySettled(),
    });
  }

  /** Every publish/unpublish attempt and whether it worked. */
  get registrationEvents(): Listeners<RegistrationEvent> {
    return this.writes.events;
  }

  /** A port started or stopped yielding its registration to another session. */
  get conflictEvents(): Listeners<ConflictEvent> {
    return this.conflicts.events;
  }

  /** A new port: unregistered until its health says up. */
  add(portNumber: number): void {
    this.ports.set(portNumber, {
      port: portNumber,
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
    });
    this.drainIfAll(portNumber);
  }

  /** Removed from the config: unpublished, then forgotten. */
  retire(portNumber: number): void {
    const port = this.ports.get(portNumber);
    if (port) port.removed = true;
  }

  /** A port removed and added back before its unpublish finished: it is in the config again. */
  revive(portNumber: number): void {
    const port = this.ports.get(portNumber);
    if (!port) return;
    port.removed = false;
    this.drainIfAll(portNumber);
  }

  /** 'absent', 'removed' (still unpublishing) or 'configured'. */
  portState(portNumber: number): 'absent' | 'removed' | 'configured' {
    const port = this.ports.get(portNumber);
    return !port ? 'absent' : port.removed ? 'removed' : 'configured';
  }

  /** Every port known, removed ones still unpublishing included. */
  portNumbers(): number[] {
    return [...this.ports.keys()];
  }

  /** The ports in the config, in port order. */
  configuredPorts(): number[] {
    return [...this.ports.values()]
      .filter((port) => !port.removed)
      .map((port) => port.port)
      .sort((a, b) => a - b);
  }

  status(portNumber: number): Pick<PortStatus, 'registered' | 'drained' | 'node' | 'lastError' | 'conflict'> {
    const port = this.ports.get(portNumber);
    return {
      registered: port !== undefined && port.registered !== null && !port.stale,
      drained: this.drains.get(portNumber) ?? null,
      node: nodeKey({ host: this.options.address().host, port: portNumber }),
      lastError: port?.lastError ?? null,
      conflict: port?.conflict ?? null,
    };
  }

  /** Ports with a registration held or being (re)written: what a successor must hold before this runner may stop. */
  claimedPorts(): number[] {
    return [...this.ports.values()].filter((port) => port.registered !== null && !port.removed).map((port) => port.port);
  }

  /** See ServiceRunner.onSession. */
  onSession(sessionId?: string): void {
    this.sessionGeneration += 1;
    this.conflicts.sessionId = sessionId ?? null;
    let count = 0;
    for (const port of this.ports.values()) {
      // The new session has no watch on the other's node: it tries again (and yields again after CONFLICT_LOSSES).
      if (port.conflict) this.conflicts.end(port, 'a new discovery session tries again');
      if (port.registered) port.stale = true;
      if (this.desiredNode(port) || port.registered || port.orphans.length > 0) {
        count += 1;
        port.urgent = true;
        this.requestSync(port, true);
      }
    }
    if (count > 0) this.logger.info({ sessionId }, `service ${this.item.name}: new discovery session, re-registering ${count} port(s)`);
  }

  /** See ServiceRunner.onReconnected. */
  onReconnected(): void {
    for (const port of this.ports.values()) {
      if (port.lastError === null || port.syncTimer === undefined || port.syncing) continue;
      clearTimeout(port.syncTimer);
      port.syncTimer = undefined;
      port.backoff.reset();
      this.requestSync(port, true);
    }
  }

  /** See ServiceRunner.onLost. */
  onLost(key: string, holder?: RegistrationHolder): void {
    for (const port of this.ports.values()) {
      if (port.conflict) {
        this.conflicts.onLostWhileYielding(port, key, holder);
        continue;
      }
      if (!port.registered || nodeKey(port.registered) !== key || port.stale) continue;
      if (this.handingOver) {
        this.logger.info({ port: port.port, node: key }, `service ${this.item.name} port ${port.port}: registration ${key} was taken over or removed while handing over to a new session; not taking it back`);
        continue;
      }
      if (holder && this.conflicts.lostAgain(port)) {
        this.conflicts.start(port, key, holder);
        continue;
      }
      this.logger.warn({ port: port.port, node: key }, `service ${this.item.name} port ${port.port}: registration ${key} was removed from discovery ${this.item.discovery}; publishing it again if still wanted`);
      port.stale = true;
      this.requestSync(port);
    }
  }

  /** See ServiceRunner.yieldRegistrations. */
  yieldAll(): void {
    this.handingOver = true;
  }

  /** See ServiceRunner.reclaimRegistrations. */
  reclaimAll(): void {
    if (!this.handingOver) return;
    this.handingOver = false;
    if (this.options.phase() !== 'running') return;
    for (const port of this.ports.values()) {
      if (!port.registered) continue;
      port.stale = true;
      port.urgent = true;
      this.requestSync(port, true);
    }
  }

  /** See ServiceRunner.setDrained. */
  setDrained(ports: readonly number[] | 'all', reason: string): void {
    const affected = ports === 'all' ? [...this.ports.keys()] : [...ports];
    if (ports === 'all') this.drainAllReason = reason;
    for (const port of affected) this.drains.set(port, reason);
    this.logger.info({ ports: affected, reason }, `service ${this.item.name}: draining port(s) ${ports === 'all' ? 'all' : affected.join(', ')}: ${reason}`);
    this.syncPorts(affected);
  }

  /** See ServiceRunner.undrain. */
  undrain(ports: readonly number[] | 'all'): void {
    const affected = ports === 'all' ? [...new Set([...this.drains.keys(), ...this.ports.keys()])] : [...ports];
    if (ports === 'all') this.drainAllReason = null;
    for (const port of affected) this.drains.delete(port);
    this.logger.info({ ports: affected }, `service ${this.item.name}: drain ended for port(s) ${ports === 'all' ? 'all' : affected.join(', ')}`);
    this.syncPorts(affected);
  }

  /** Writes what the port should be now, unless a write is in flight or waiting (it will). */
  sync(portNumber: number): void {
    const port = this.ports.get(portNumber);
    if (port) this.requestSync(port);
  }

  restartReconcileTimer(): void {
    if (this.reconcileTimer !== undefined) clearInterval(this.reconcileTimer);
    this.reconcileTimer = setInterval(() => void this.writes.reconcile(), this.timing.reconcileMs);
  }

  stopReconciling(): void {
    if (this.reconcileTimer !== undefined) clearInterval(this.reconcileTimer);
    this.reconcileTimer = undefined;
  }

  /**
   * Removes every registration (the runner is stopping) and resolves when
   * they are gone or at the deadline; what is left is logged (ephemeral
   * nodes still go with the session).
   */
  async deregisterAll(deadlineMs: number): Promise<void> {
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

  /** The runner stopped: no write is started any more. */
  halt(): void {
    for (const port of this.ports.values()) {
      if (port.syncTimer !== undefined) clearTimeout(port.syncTimer);
      port.syncTimer = undefined;
    }
    this.notifySettled();
  }

  private get item(): ServiceItem {
    return this.options.item();
  }

  private get timing(): RunnerTiming {
    return this.options.timing;
  }

  private drainIfAll(portNumber: number): void {
    if (this.drainAllReason !== null && !this.drains.has(portNumber)) this.drains.set(portNumber, this.drainAllReason);
  }

  private desiredNode(port: PortRegistration): ClusterNode | null {
    if (this.options.phase() !== 'running' || port.removed || !this.options.isUp(port.port) || this.drains.has(port.port)) return null;
    return nodeFor(this.options.address(), port.port, this.item.metadata);
  }

  private syncPorts(ports: readonly number[]): void {
    for (const portNumber of ports) this.sync(portNumber);
  }

  private requestSync(port: PortRegistration, urgent = false): void {
    this.writes.request(port, urgent);
  }

  private notifySettled(): void {
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const waiter of waiters) waiter();
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
