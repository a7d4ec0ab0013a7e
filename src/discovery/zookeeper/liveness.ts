import type { Logger } from '../../lib/logger.js';
import { LighthouseError } from '../../lib/errors.js';
import { ConnectionState, type ZkClient } from './zk-client.js';

/** The parts of a client the monitor uses (a fake in unit tests). */
export type LivenessTarget = Pick<ZkClient, 'connectionState' | 'connection' | 'exists' | 'dropConnection' | 'negotiatedTimeoutMs'>;

export interface LivenessOptions {
  /** how long one connection attempt may sit without a session before the next server is tried */
  connectTimeoutMs: number;
  /** called with the reason each time a connection is dropped */
  onDrop?(reason: string): void;
}

export interface LivenessStats {
  probes: number;
  drops: number;
}

/**
 * Keeps one client honest about its connection. node-zookeeper-client (the
 * engine) sends
 * pings but never checks that they are answered, and waits for a handshake
 * answer forever; a hung server (GC pause, SIGSTOP, silent partition) keeps
 * it "connected" while the ensemble expires the session. So:
 *
 * - while connected, a probe (`exists /`) once the server has sent nothing
 *   for session timeout / 6 (answers, notifications and ping replies all
 *   count); if it is unanswered after session timeout / 3 the connection is
 *   dropped, and the library resumes the same session on the next server
 *   well before the session expires;
 * - while connecting, an attempt that has not produced a session within the
 *   connect timeout is dropped too (a stopped server still accepts TCP
 *   connections into its backlog, then never answers the handshake).
 *
 * The probes are ordinary requests: they show in the server's packet counts,
 * which is why `stats.probes` is exposed.
 */
export class LivenessMonitor {
  readonly stats: LivenessStats = { probes: 0, drops: 0 };
  private timer: NodeJS.Timeout | undefined;
  /** `connection`: the id of the connection the probe went out on */
  private probe: { connection: number | undefined; startedAt: number } | undefined;
  private lastProbeAt = 0;
  private attempt: { connection: number | undefined; since: number } | undefined;

  constructor(
    private readonly client: LivenessTarget,
    private readonly options: LivenessOptions,
    private readonly logger: Logger,
    /**
     * A monotonic clock, the one ConnectionInfo.lastHeardAt is on: on the wall
     * clock a step backwards (NTP, a restored VM) left the last probe in the
     * future, and no probe went out (nor timed out) until the clock caught up,
     * while a frozen server let the session expire.
     */
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.timer) return;
    const tickMs = Math.max(25, Math.floor(Math.min(this.probeIntervalMs(), this.options.connectTimeoutMs) / 4));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private probeIntervalMs(): number {
    return Math.max(20, Math.floor(this.client.negotiatedTimeoutMs() / 6));
  }

  private probeTimeoutMs(): number {
    return Math.max(40, Math.floor(this.client.negotiatedTimeoutMs() / 3));
  }

  private tick(): void {
    const state = this.client.connectionState();
    const now = this.now();
    if (state === ConnectionState.CONNECTED || state === ConnectionState.CONNECTED_READ_ONLY) {
      this.attempt = undefined;
      this.checkProbe(now);
    } else if (state === ConnectionState.CONNECTING) {
      this.probe = undefined;
      this.checkAttempt(now);
    } else {
      this.probe = undefined;
      this.attempt = undefined;
    }
  }

  private checkProbe(now: number): void {
    const info = this.client.connection();
    const connection = info?.id;
    if (this.probe) {
      if (this.probe.connection !== connection) {
        this.probe = undefined; // the connection changed under the probe: its answer no longer tells anything
      } else if (now - this.probe.startedAt > this.probeTimeoutMs()) {
        this.probe = undefined;
        this.drop(`probe unanswered for ${this.probeTimeoutMs()} ms`);
        return;
      } else {
        return;
      }
    }
    // A server that spoke on this connection lately is not hung: only a silent connection is probed. In a busy
    // fleet (a deploy's notifications every few hundred ms) that spares the ensemble a request per writer every
    // few seconds, and the writers their CPU.
    if (now - Math.max(this.lastProbeAt, info?.lastHeardAt ?? 0) < this.probeIntervalMs()) return;
    const probe = { connection, startedAt: now };
    this.probe = probe;
    this.lastProbeAt = now;
    this.stats.probes += 1;
    this.client.exists('/').then(
      () => {
        if (this.probe === probe) this.probe = undefined;
      },
      (error: unknown) => {
        // Our own deadline passing is not an answer: the tick judges it against
        // the probe timeout (the operation timeout may be shorter or longer).
        if (this.probe === probe && !(error instanceof LighthouseError && error.code === 'LH_ZK_TIMEOUT')) this.probe = undefined;
        this.logger.debug({ err: error }, 'liveness probe failed');
      },
    );
  }

  private checkAttempt(now: number): void {
    const connection = this.client.connection();
    if (!this.attempt || this.attempt.connection !== connection?.id) {
      this.attempt = { connection: connection?.id, since: now };
      return;
    }
    if (connection?.open && now - this.attempt.since > this.options.connectTimeoutMs) {
      this.attempt = undefined;
      this.drop(`no session within ${this.options.connectTimeoutMs} ms of connecting`);
    }
  }

  private drop(reason: string): void {
    const server = this.client.connection()?.server ?? 'unknown server';
    if (this.client.dropConnection()) {
      this.stats.drops += 1;
      this.logger.warn({ server, reason }, `dropping ZooKeeper connection to ${server}: ${reason}; trying the next server`);
      this.options.onDrop?.(reason);
    }
  }
}
