import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import { Backoff } from '../../lib/backoff.js';
import { errorMessage, LighthouseError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { SessionState } from '../types.js';
import { isAuthTokenExpired, type EtcdConnection } from './client.js';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
type Outcome = 'expired' | 'broken' | 'closed';

export interface LeaseSessionOptions {
  connection: EtcdConnection;
  ttlSeconds: number;
  /** a key the session may read, to renew an expired auth token (the discovery's prefix) */
  probeKey: string;
  logger: Logger;
}

/**
 * The etcd counterpart of a ZooKeeper session: one lease, kept alive over a
 * keepalive stream, that every registration is attached to. When the lease
 * is gone (expired while we could not reach etcd, or revoked) a new one is
 * granted and `onLease` fires, so the reporter re-publishes: exactly what a
 * new ZooKeeper session means.
 *
 * While etcd cannot be reached the same lease is kept and retried: if etcd
 * comes back before the TTL ran out (or etcd itself restarted, which extends
 * leases), nothing was lost and nothing needs re-publishing.
 */
export class LeaseSession {
  private stateValue: SessionState = 'connecting';
  private leaseId: string | undefined;
  private ttlMs: number;
  private closed = false;
  private started = false;
  private readonly backoff = new Backoff(100, 5_000);
  private readonly stateListeners = new Set<(state: SessionState) => void>();
  private readonly leaseListeners = new Set<(leaseId: string) => void>();
  private wake: (() => void) | undefined;
  /** sends a keepalive now, while the keepalive stream is open */
  private poke: (() => void) | undefined;
  private lastFailure: string | undefined;
  private leases = 0;

  constructor(private readonly options: LeaseSessionOptions) {
    this.ttlMs = options.ttlSeconds * 1000;
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** The lease registrations are attached to; undefined until one is granted and while a lost one is replaced. */
  current(): string | undefined {
    return this.leaseId;
  }

  /** Why etcd could not be reached last time, while it still cannot. */
  get lastError(): string | undefined {
    return this.lastFailure;
  }

  /** Leases granted so far (1 = never lost one). */
  get granted(): number {
    return this.leases;
  }

  onState(listener: (state: SessionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Fires for every new lease, the first one too. */
  onLease(listener: (leaseId: string) => void): () => void {
    this.leaseListeners.add(listener);
    return () => this.leaseListeners.delete(listener);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run();
  }

  /** Something suggests the lease is gone (our keys were deleted): ask etcd now instead of at the next keepalive. */
  checkNow(): void {
    this.poke?.();
  }

  /** Waits up to `ms` for a lease (at start, or while a lost one is replaced). */
  async awaitLease(ms: number): Promise<string | undefined> {
    if (this.leaseId !== undefined || this.closed) return this.leaseId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(this.leaseId);
      }, ms);
      timer.unref();
      const unsubscribe = this.onLease((leaseId) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(leaseId);
      });
    });
  }

  /** Revokes the lease, so every registration attached to it disappears now rather than after the TTL. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    const leaseId = this.leaseId;
    this.leaseId = undefined;
    if (leaseId !== undefined) {
      const connection = this.options.connection;
      // Unreachable etcd would only make a stopping daemon wait: try briefly, the TTL removes the keys anyway.
      const timeoutMs = this.stateValue === 'connected' ? connection.operationTimeoutMs : Math.min(connection.operationTimeoutMs, 1_000);
      await connection.call('revoke lease', leaseId, () => connection.lease.leaseRevoke({ ID: leaseId }), timeoutMs).catch((error: unknown) => {
        this.options.logger.warn({ err: error, lease: leaseId }, `could not revoke lease ${leaseId}: its registrations vanish when it expires`);
      });
    }
    this.setState('closed');
  }

  private async run(): Promise<void> {
    const connection = this.options.connection;
    while (!this.closed) {
      if (this.leaseId === undefined) {
        try {
          const ttlSeconds = Math.ceil(this.ttlMs / 1000);
          const granted = await connection.call('grant lease', `ttl=${ttlSeconds}s`, () => connection.lease.leaseGrant({ TTL: ttlSeconds }));
          if (this.closed) {
            await connection.call('revoke lease', granted.ID, () => connection.lease.leaseRevoke({ ID: granted.ID })).catch(() => undefined);
            return;
          }
          this.leaseId = granted.ID;
          // etcd raises a TTL below its minimum: keep alive at the TTL it granted.
          this.ttlMs = Number(granted.TTL) * 1000;
          this.leases += 1;
          this.recovered();
          this.options.logger.info({ lease: granted.ID, ttl: Number(granted.TTL) }, `etcd lease ${granted.ID} granted (ttl ${granted.TTL} s)`);
          for (const listener of this.leaseListeners) listener(granted.ID);
        } catch (error) {
          this.failed(error);
          await this.sleep(this.backoff.next());
          continue;
        }
      }
      const outcome = await this.keepAlive(this.leaseId);
      if (outcome === 'closed') return;
      if (outcome === 'broken' && isAuthTokenExpired(this.lastFailure)) await connection.renewAuth(this.options.probeKey);
      if (outcome === 'expired') {
        this.options.logger.warn({ lease: this.leaseId }, `etcd lease ${this.leaseId} expired: its registrations are gone; granting a new lease`);
        this.leaseId = undefined;
        this.setState('expired');
        continue;
      }
      await this.sleep(this.backoff.next());
    }
  }

  /**
   * Keeps `leaseId` alive until it expires, the stream breaks, or we close.
   * A keepalive goes out every third of the TTL; an answer that does not come
   * within half the TTL (or the operation timeout) counts as a broken stream,
   * because a frozen server keeps the connection open without answering.
   */
  private keepAlive(leaseId: string): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let stream: KeepAliveStream | undefined;
      let interval: NodeJS.Timeout | undefined;
      let answerTimer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (outcome: Outcome, error?: unknown, hung = false): void => {
        if (done) return;
        done = true;
        if (interval) clearInterval(interval);
        if (answerTimer) clearTimeout(answerTimer);
        this.poke = undefined;
        this.wake = undefined;
        if (stream && hung) abandon(stream);
        else if (stream) quietEnd(stream);
        if (outcome === 'broken') this.failed(error);
        resolve(outcome);
      };
      this.wake = () => finish('closed');
      const answerWithin = Math.max(200, Math.min(this.options.connection.operationTimeoutMs, this.ttlMs / 2));
      const send = (): void => {
        if (done || !stream) return;
        try {
          stream.write({ ID: leaseId });
        } catch (error) {
          finish('broken', error);
          return;
        }
        // Coded, no subject: failed() logs them with the lease.
        answerTimer ??= setTimeout(() => finish('broken', new LighthouseError('LH_ETCD_TIMEOUT', `no keepalive answer within ${answerWithin} ms`), true), answerWithin);
      };
      this.options.connection.lease.leaseKeepAlive().then(
        (opened) => {
          stream = opened;
          if (done) {
            quietEnd(opened);
            return;
          }
          opened.on('data', (response) => {
            if (done) return;
            if (answerTimer) clearTimeout(answerTimer);
            answerTimer = undefined;
            // etcd answers TTL 0 (or less) for a lease it no longer has.
            if (Number(response.TTL) <= 0) {
              finish('expired');
              return;
            }
            this.recovered();
          });
          opened.on('error', (error) => finish('broken', error));
          opened.on('end', () => finish('broken', new LighthouseError('LH_ETCD_OPERATION', 'keepalive stream ended')));
          this.poke = send;
          send();
          interval = setInterval(send, Math.max(100, this.ttlMs / 3));
          interval.unref();
        },
        (error: unknown) => finish('broken', error),
      );
    });
  }

  private recovered(): void {
    this.backoff.reset();
    if (this.lastFailure !== undefined) this.options.logger.info('etcd reachable again');
    this.lastFailure = undefined;
    this.setState('connected');
  }

  private failed(error: unknown): void {
    if (this.closed) return;
    const message = errorMessage(error);
    if (message !== this.lastFailure) this.options.logger.warn({ err: error, lease: this.leaseId }, `etcd unreachable: ${message}`);
    this.lastFailure = message;
    if (this.stateValue === 'connected' || this.stateValue === 'expired') this.setState('disconnected');
  }

  private setState(state: SessionState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    for (const listener of this.stateListeners) listener(state);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/**
 * Cancels a stream to a server that stopped answering while the stream is
 * still writable: the library then counts it as a failure of that endpoint
 * and drops its connection, so the next stream can go elsewhere.
 */
function abandon(stream: KeepAliveStream): void {
  stream.on('error', () => undefined);
  try {
    stream.cancel();
  } catch {
    // already gone
  }
}

/** Ends a stream we no longer want without blaming the endpoint for it. */
function quietEnd(stream: KeepAliveStream): void {
  stream.on('error', () => undefined);
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already gone
  }
}
