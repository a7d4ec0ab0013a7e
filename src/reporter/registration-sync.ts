import type { Logger } from '../lib/logger.js';
import type { Discovery } from '../discovery/types.js';
import { nodeKey, type ClusterNode } from '../discovery/node.js';
import { encodeNode } from '../discovery/codec.js';
import type { ServiceItem } from '../config/model.js';
import type { Backoff } from '../lib/backoff.js';
import { withDeadline } from '../lib/deadline.js';
import { errorMessage, LighthouseError } from '../lib/errors.js';
import { Listeners } from './runner-events.js';
import type { RunnerTiming } from './runner-timing.js';
import type { PortConflict, RegistrationEvent, RunnerPhase } from './runner-status.js';

/** What the registration side knows of one port (port-registration.ts owns them). */
export interface PortRegistration {
  port: number;
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

const sameNode = (a: ClusterNode, b: ClusterNode): boolean => encodeNode(a) === encodeNode(b);

export interface RegistrationSyncOptions {
  /** port-registration.ts's ports: a removed port is dropped here once its registration is gone */
  ports: Map<number, PortRegistration>;
  discovery: Discovery;
  logger: Logger;
  now: () => number;
  timing: RunnerTiming;
  item: () => ServiceItem;
  phase: () => RunnerPhase;
  /** what the port should be registered as now; null: not registered */
  desiredNode: (port: PortRegistration) => ClusterNode | null;
  /** bumped on every new discovery session */
  sessionGeneration: () => number;
  /** a successor takes the registrations over: reconciliation must not take them back */
  handingOver: () => boolean;
  /** a port is in sync or a write finished: deregisterAll() looks again */
  settled: () => void;
}

/**
 * The write path of one service's registrations: brings a port's
 * registration in the discovery backend to what it should be, one write at a
 * time, and verifies now and then that the backend still holds it.
 */
export class RegistrationSync {
  /** every publish/unpublish attempt and whether it worked */
  readonly events: Listeners<RegistrationEvent>;
  private reconciling = false;
  private readonly logger: Logger;

  constructor(private readonly options: RegistrationSyncOptions) {
    this.logger = options.logger;
    this.events = new Listeners(options.logger);
  }

  private get item(): ServiceItem {
    return this.options.item();
  }

  private get timing(): RunnerTiming {
    return this.options.timing;
  }

  /**
   * One write in flight per port; a request while one is in flight, or while
   * a retry or the write gap is pending, is folded into it: whatever runs next
   * writes the state wanted at that moment, so flaps in between cost nothing.
   */
  request(port: PortRegistration, urgent = false): void {
    const phase = this.options.phase();
    if (phase === 'stopped' || phase === 'new') return;
    if (port.syncing) return;
    if (port.syncTimer !== undefined) {
      if (!urgent) return;
      clearTimeout(port.syncTimer);
      port.syncTimer = undefined;
    }
    const skipGap = urgent || port.urgent || phase === 'stopping';
    const wait = skipGap ? 0 : port.lastWriteAt + this.timing.minWriteGapMs - performance.now();
    if (wait > 0) {
      port.syncTimer = setTimeout(() => {
        port.syncTimer = undefined;
        this.request(port);
      }, wait);
      return;
    }
    void this.syncStep(port);
  }

  private async syncStep(port: PortRegistration): Promise<void> {
    if (port.conflict) {
      // Yielded to another session (registration-conflict.ts): nothing of ours to write until it ends.
      port.urgent = false;
      if (port.removed) this.options.ports.delete(port.port);
      this.options.settled();
      return;
    }
    const desired = this.options.desiredNode(port);
    const registered = port.registered;
    const publishNeeded = desired !== null && (registered === null || port.stale || !sameNode(registered, desired));
    const unpublishNeeded = desired === null && registered !== null;
    const orphan = !publishNeeded && !unpublishNeeded ? port.orphans[0] : undefined;
    if (!publishNeeded && !unpublishNeeded && orphan === undefined) {
      port.urgent = false;
      if (port.removed && registered === null) this.options.ports.delete(port.port);
      this.options.settled();
      return;
    }

    port.syncing = true;
    port.lastWriteAt = performance.now();
    const generation = this.options.sessionGeneration();
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
        if (generation === this.options.sessionGeneration() && port.registered === desired) port.stale = false;
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
      if (this.options.phase() !== 'stopped') {
        const delay = port.backoff.next();
        port.syncTimer = setTimeout(() => {
          port.syncTimer = undefined;
          this.request(port);
        }, delay);
      }
    } finally {
      port.syncing = false;
      this.options.settled();
    }
    if (!failed) this.request(port);
  }

  private async write(action: 'publish' | 'unpublish', port: PortRegistration, node: ClusterNode): Promise<void> {
    const item = this.item;
    const service = item.name;
    const key = nodeKey(node);
    const discovery = this.options.discovery;
    try {
      // Inside the try: a plugin that throws at once (e.g. a name it cannot hold) is logged with the file like any failure.
      const operation = action === 'publish' ? discovery.publish(service, node) : discovery.unpublish(service, { host: node.host, port: node.port });
      await withDeadline(operation, this.timing.discoveryTimeoutMs, () => new Error(`${action} did not finish within ${this.timing.discoveryTimeoutMs} ms`));
    } catch (error) {
      const message = `service ${service} port ${port.port}: ${action} of ${key} on discovery ${item.discovery} failed: ${errorMessage(error)}`;
      // The backend's own code (a timeout, a refused operation) says more than ours; ours covers the deadline and plugins without codes.
      const code = error instanceof LighthouseError ? error.code : 'LH_REGISTRATION_WRITE';
      const failure = new LighthouseError(code, message, { file: item.file }, { cause: error });
      this.logger.warn({ port: port.port, node: key, file: item.file, code }, failure.message);
      this.events.emit({ service, port: port.port, node: key, action, ok: false, error: failure.message, at: this.options.now() });
      throw failure;
    }
  }

  /** Told after the port's own state reflects the write, so listeners reading `status()` see it. */
  private written(action: 'publish' | 'unpublish', port: PortRegistration, node: ClusterNode): void {
    const service = this.item.name;
    const key = nodeKey(node);
    this.logger.info({ port: port.port, node: key }, `service ${service} port ${port.port}: ${action === 'publish' ? 'registered' : 'deregistered'} ${key}`);
    this.events.emit({ service, port: port.port, node: key, action, ok: true, at: this.options.now() });
  }

  /** Level-triggered: asks the backend whether each registration we believe in is really there. */
  async reconcile(): Promise<void> {
    if (this.reconciling || this.options.phase() !== 'running') return;
    this.reconciling = true;
    try {
      await Promise.all([...this.options.ports.values()].map((port) => this.reconcilePort(port)));
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcilePort(port: PortRegistration): Promise<void> {
    const desired = this.options.desiredNode(port);
    const registered = port.registered;
    if (this.options.handingOver() || !desired || !registered || port.stale || port.syncing || port.syncTimer !== undefined || !sameNode(registered, desired)) return;
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
    this.request(port);
  }
}
