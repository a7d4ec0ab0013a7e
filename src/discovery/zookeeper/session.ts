import type { Logger } from '../../lib/logger.js';
import { LighthouseError } from '../../lib/errors.js';
import { Backoff } from '../../lib/backoff.js';
import type { SessionState } from '../types.js';
import type { DigestCredentials } from './acl.js';
import { LivenessMonitor, type LivenessStats } from './liveness.js';
import { checkDefaultEngine, ConnectionState, ZkClient } from './zk-client.js';

export interface SessionOptions {
  hosts: readonly string[];
  sessionTimeoutMs: number;
  connectTimeoutMs: number;
  operationTimeoutMs: number;
  credentials?: DigestCredentials;
  logger: Logger;
  /** pause between rounds over the server list while none answers */
  spinDelayMs?: number;
}

/** Told each time the session is usable again. */
export interface SessionReady {
  /** hex session id */
  sessionId: string;
  /**
   * True for a session we did not have before (the first one, or the one
   * built after an expiry): no watch and no ephemeral of ours exists in it.
   * False when the same session came back after a connection loss: the
   * library restored its watches, ephemerals are still there.
   */
  fresh: boolean;
}

export interface SessionStats extends LivenessStats {
  /** sessions established (the first one included) */
  sessions: number;
  expiries: number;
}

/**
 * Owns the ZooKeeper client of one ensemble. Connects in the background and
 * never gives up; an expired session leaves the client dead for
 * good (every request fails, watchers never fire), so a new client is built
 * with the same credentials and listeners are told a fresh session exists.
 */
export class ZkSession {
  private client: ZkClient | undefined;
  private liveness: LivenessMonitor | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastSessionId: string | undefined;
  private currentState: SessionState = 'disconnected';
  private closed = false;
  private rebuildTimer: NodeJS.Timeout | undefined;
  private readonly authBackoff = new Backoff(500, 30_000);
  private readonly readyListeners = new Set<(ready: SessionReady) => void>();
  private readonly stateListeners = new Set<(state: SessionState) => void>();
  private readonly counters = { sessions: 0, expiries: 0, probes: 0, drops: 0 };

  constructor(private readonly options: SessionOptions) {
    // Here rather than at connect: a changed client library is reported when the discovery is created, naming its file.
    checkDefaultEngine();
  }

  get state(): SessionState {
    return this.currentState;
  }

  get sessionId(): string | undefined {
    return this.currentState === 'connected' ? this.lastSessionId : undefined;
  }

  get stats(): SessionStats {
    const live = this.liveness?.stats ?? { probes: 0, drops: 0 };
    return { ...this.counters, probes: this.counters.probes + live.probes, drops: this.counters.drops + live.drops };
  }

  /** Starts connecting; idempotent. Never throws because the ensemble is unreachable. */
  start(): void {
    if (this.client || this.closed) return;
    this.setState('connecting');
    this.build();
  }

  /**
   * The client of the current session. Callers take it once per operation
   * flow: if the session is replaced meanwhile their requests fail (and the
   * ready listeners redo the work on the new one).
   */
  current(): ZkClient {
    if (!this.client || this.closed) throw new LighthouseError('LH_ZK_OPERATION', this.closed ? 'the ZooKeeper session is closed' : 'the ZooKeeper session was not started');
    return this.client;
  }

  isConnected(): boolean {
    return this.currentState === 'connected';
  }

  onReady(listener: (ready: SessionReady) => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  onState(listener: (state: SessionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Closes the session: the server deletes its ephemerals at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.rebuildTimer) clearTimeout(this.rebuildTimer);
    const client = this.retire();
    if (client) await client.close();
    this.setState('closed');
    this.readyListeners.clear();
    this.stateListeners.clear();
  }

  private build(): void {
    const { logger } = this.options;
    const client = new ZkClient({
      connectString: this.options.hosts.join(','),
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      operationTimeoutMs: this.options.operationTimeoutMs,
      // The first wait after a failed round over the server list is a random
      // 0..spinDelay; each further failed round doubles the window up to 2 s
      // (reconnect-pacing.ts). A short blip therefore costs what it did (500 ms
      // measured 0.7-1.7 s end to end in the chaos suite), while a fleet that
      // waits out a whole-ensemble outage knocks a few times per 2 s, not per
      // quarter second, and comes back spread over that window.
      spinDelayMs: this.options.spinDelayMs ?? 500,
    });
    // Before connect(): the library sends stored credentials right after each handshake, ahead of any request.
    if (this.options.credentials) client.addAuth('digest', `${this.options.credentials.user}:${this.options.credentials.password}`);
    this.client = client;
    this.unsubscribe = client.onConnectionState((state) => this.onConnectionState(client, state));
    this.liveness = new LivenessMonitor(client, { connectTimeoutMs: this.options.connectTimeoutMs }, logger);
    this.liveness.start();
    client.connect();
  }

  /** Detaches the current client (its late events are ignored) and returns it for closing. */
  private retire(): ZkClient | undefined {
    const client = this.client;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.liveness) {
      this.counters.probes += this.liveness.stats.probes;
      this.counters.drops += this.liveness.stats.drops;
      this.liveness.stop();
    }
    this.liveness = undefined;
    this.client = undefined;
    return client;
  }

  private onConnectionState(client: ZkClient, state: ConnectionState): void {
    if (client !== this.client || this.closed) return;
    const { logger } = this.options;
    switch (state) {
      case ConnectionState.CONNECTED:
      case ConnectionState.CONNECTED_READ_ONLY: {
        const sessionId = client.sessionId().toString('hex');
        const fresh = sessionId !== this.lastSessionId;
        this.lastSessionId = sessionId;
        if (fresh) this.counters.sessions += 1;
        this.authBackoff.reset();
        logger.info(
          { sessionId, fresh, server: client.connection()?.server, timeoutMs: client.negotiatedTimeoutMs() },
          fresh ? `ZooKeeper session 0x${sessionId} established` : `ZooKeeper session 0x${sessionId} resumed`,
        );
        this.setState('connected');
        for (const listener of [...this.readyListeners]) {
          try {
            listener({ sessionId, fresh });
          } catch (error) {
            logger.error({ err: error }, 'session listener failed');
          }
        }
        return;
      }
      case ConnectionState.DISCONNECTED:
        if (this.currentState === 'connected') {
          logger.warn({ sessionId: this.lastSessionId }, 'ZooKeeper connection lost; reconnecting');
          this.setState('disconnected');
        }
        return;
      case ConnectionState.SESSION_EXPIRED:
        this.counters.expiries += 1;
        logger.warn({ sessionId: this.lastSessionId }, `ZooKeeper session 0x${this.lastSessionId ?? '?'} expired; starting a new session`);
        this.setState('expired');
        this.replace(0);
        return;
      case ConnectionState.AUTHENTICATION_FAILED: {
        const delay = this.authBackoff.next();
        logger.error({ user: this.options.credentials?.user }, `ZooKeeper rejected our credentials; retrying with a new session in ${delay} ms`);
        this.setState('disconnected');
        this.replace(delay);
        return;
      }
      default:
        return;
    }
  }

  /** The old client is dead for good: close it and build a new one (after `delayMs`). */
  private replace(delayMs: number): void {
    const old = this.retire();
    void old?.close();
    const rebuild = (): void => {
      this.rebuildTimer = undefined;
      if (!this.closed) this.build();
    };
    if (delayMs <= 0) rebuild();
    else {
      this.rebuildTimer = setTimeout(rebuild, delayMs);
      this.rebuildTimer.unref();
    }
  }

  private setState(state: SessionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    for (const listener of [...this.stateListeners]) {
      try {
        listener(state);
      } catch (error) {
        this.options.logger.error({ err: error }, 'session state listener failed');
      }
    }
  }
}
