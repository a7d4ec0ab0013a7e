import { withDeadline } from '../../lib/deadline.js';
import { ConnectionState, type Acl, type ConnectionInfo, type Stat, type TxOp, type Watcher, type ZkEngine } from './engine.js';
import { ensureLibraryShape, NodeZookeeperClientEngine } from './engine-node-zookeeper-client.js';
import { ZookeeperError } from './zk-errors.js';

export { ConnectionState, OPEN_ACL, Permission, makeAcl } from './engine.js';
export type { Acl, ConnectionInfo, Stat, TxOp, WatchEvent, Watcher } from './engine.js';

/** Throws LH_ZK_LIBRARY when the default engine's library is not the one it was written against. */
export function checkDefaultEngine(): void {
  ensureLibraryShape();
}

export interface ZkClientOptions {
  /** comma-separated `host:port` list */
  connectString: string;
  sessionTimeoutMs: number;
  operationTimeoutMs: number;
  /** the first window of the pause between full rounds over the server list while nothing answers (reconnect-pacing.ts) */
  spinDelayMs: number;
  /** the widest such window (default 2 s) */
  maxReconnectWindowMs?: number;
}

/**
 * The ZooKeeper client the plugin uses: one engine (engine.ts) behind a
 * deadline. An engine's requests have no deadline of their own (a request
 * queued while disconnected waits for the next connection), so every call
 * here is bounded by `operationTimeoutMs`, failing with LH_ZK_TIMEOUT naming
 * the znode.
 */
export class ZkClient {
  private readonly engine: ZkEngine;

  constructor(
    private readonly options: ZkClientOptions,
    engine?: ZkEngine,
  ) {
    this.engine = engine ?? new NodeZookeeperClientEngine(options);
  }

  connect(): void {
    this.engine.connect();
  }

  /** Credentials are kept by the engine and re-sent on every (re)connect of this client. */
  addAuth(scheme: string, credentials: string): void {
    this.engine.addAuth(scheme, credentials);
  }

  /** 8 bytes; all zero until the first connect. */
  sessionId(): Buffer {
    return this.engine.sessionId();
  }

  sessionPassword(): Buffer {
    return this.engine.sessionPassword();
  }

  /** As negotiated with the server once connected (the server clamps it to its min/max). */
  negotiatedTimeoutMs(): number {
    return this.engine.negotiatedTimeoutMs();
  }

  connectionState(): ConnectionState {
    return this.engine.state();
  }

  onConnectionState(listener: (state: ConnectionState) => void): () => void {
    return this.engine.onState(listener);
  }

  /** The current connection attempt, if any (its id changes on each attempt). */
  connection(): ConnectionInfo | undefined {
    return this.engine.connection();
  }

  /**
   * Drops the current TCP connection; the engine resumes the same session on
   * the next server. This is the lever against a server that stopped
   * answering without closing the socket (see liveness.ts).
   */
  dropConnection(): boolean {
    return this.engine.dropConnection();
  }

  /**
   * Sends CLOSE_SESSION (the server deletes our ephemerals at once) and
   * resolves when the server has closed the connection, or after the
   * operation timeout. While not connected the request cannot be sent: the
   * attempt in progress is dropped, the engine is told not to reconnect,
   * and the session is left to expire on the server.
   */
  async close(): Promise<void> {
    const state = this.engine.state();
    if (state === ConnectionState.CLOSED || state === ConnectionState.CLOSING) return;
    if (state !== ConnectionState.CONNECTED && state !== ConnectionState.CONNECTED_READ_ONLY) {
      if (state !== ConnectionState.SESSION_EXPIRED && state !== ConnectionState.AUTHENTICATION_FAILED) this.engine.close();
      this.engine.dropConnection();
      return;
    }
    let unsubscribe: (() => void) | undefined;
    const closed = new Promise<void>((resolve) => {
      unsubscribe = this.engine.onState((next) => {
        if (next === ConnectionState.CLOSED) resolve();
      });
    });
    this.engine.close();
    await withDeadline(closed, this.options.operationTimeoutMs, () => new Error('close timed out')).catch(() => {
      this.engine.dropConnection();
    });
    unsubscribe?.();
  }

  getChildren(path: string, watcher?: Watcher): Promise<{ children: string[]; stat: Stat }> {
    return this.bounded('getChildren', path, this.engine.getChildren(path, watcher));
  }

  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer; stat: Stat }> {
    return this.bounded('getData', path, this.engine.getData(path, watcher));
  }

  /** Resolves null when the znode does not exist; a watcher then fires when it is created. */
  exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    return this.bounded('exists', path, this.engine.exists(path, watcher));
  }

  create(path: string, data: Buffer, acl: readonly Acl[], ephemeral: boolean): Promise<string> {
    return this.bounded('create', path, this.engine.create(path, data, acl, ephemeral));
  }

  setData(path: string, data: Buffer, version: number): Promise<Stat> {
    return this.bounded('setData', path, this.engine.setData(path, data, version));
  }

  remove(path: string, version: number): Promise<void> {
    return this.bounded('delete', path, this.engine.remove(path, version));
  }

  getAcl(path: string): Promise<Acl[]> {
    return this.bounded('getACL', path, this.engine.getAcl(path));
  }

  /** Runs the ops atomically (ZooKeeper multi): all or none. */
  multi(ops: readonly TxOp[]): Promise<void> {
    return this.bounded('multi', ops.map((op) => op.path).join(', '), this.engine.multi(ops));
  }

  /**
   * The deadline turns a request the engine keeps waiting into an
   * LH_ZK_TIMEOUT error. (The request may still be sent after a reconnect:
   * callers keep every write idempotent for that reason.)
   */
  private bounded<T>(op: string, path: string, request: Promise<T>): Promise<T> {
    return withDeadline(request, this.options.operationTimeoutMs, () => new ZookeeperError(op, path, undefined, `no answer within ${this.options.operationTimeoutMs} ms`));
  }
}
