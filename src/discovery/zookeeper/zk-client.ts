import type { Socket } from 'node:net';
import zookeeper from 'node-zookeeper-client';
import type { ACL as ZkAcl, Client, Event as ZkEvent, Stat } from 'node-zookeeper-client';
import { withDeadline } from '../../lib/deadline.js';
import { ZookeeperError } from './zk-errors.js';
import { FrameSplitter } from './frames.js';

/**
 * A small typed adapter over node-zookeeper-client 1.1.3. Its published types
 * miss what we depend on (the connection manager, transaction ops), and its
 * callback API has no deadline: every call here is a promise bounded by
 * `operationTimeoutMs`, failing with a ZookeeperError that names the znode.
 * All library quirks we work around are in this file.
 */

export type { Stat };
export type Acl = ZkAcl;
export interface AclEntry {
  perms: number;
  scheme: string;
  id: string;
}

export interface WatchEvent {
  type: 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';
  path: string;
}
export type Watcher = (event: WatchEvent) => void;

/** Connection manager states (ConnectionManager.STATES in the library). */
export const ConnectionState = {
  DISCONNECTED: 0,
  CONNECTING: 1,
  CONNECTED: 2,
  CONNECTED_READ_ONLY: 3,
  CLOSING: -1,
  CLOSED: -2,
  SESSION_EXPIRED: -3,
  AUTHENTICATION_FAILED: -4,
} as const;

/** The parts of the library's private ConnectionManager we rely on (read from its source). */
interface RawConnectionManager {
  state: number;
  socket?: Socket;
  /** handles the socket's bytes; bound to the socket's 'data' event on each connect */
  onSocketData(chunk: Buffer): void;
  /** one-shot watchers by path; replaced by WatcherRegistry (same methods) */
  watcherManager: WatcherRegistry;
  on(event: 'state', listener: (state: number) => void): unknown;
  removeListener(event: 'state', listener: (state: number) => void): unknown;
}

/** A transaction op as the library's Transaction stores it in `ops` before serializing. */
interface RawTxOp {
  version?: number;
}
interface RawTransaction {
  ops: RawTxOp[];
  create(path: string, data: Buffer, acls: ZkAcl[], mode: number): RawTransaction;
  remove(path: string, version: number): RawTransaction;
  setData(path: string, data: Buffer, version: number): RawTransaction;
  check(path: string, version: number): RawTransaction;
  commit(callback: (error: unknown) => void): void;
}

export type TxOp =
  | { op: 'create'; path: string; data: Buffer; acl: readonly ZkAcl[]; ephemeral: boolean }
  | { op: 'remove'; path: string; version: number }
  | { op: 'setData'; path: string; data: Buffer; version: number }
  | { op: 'check'; path: string; version: number };

export interface ZkClientOptions {
  /** comma-separated `host:port` list */
  connectString: string;
  sessionTimeoutMs: number;
  operationTimeoutMs: number;
  /** pause between full rounds over the server list while nothing answers */
  spinDelayMs: number;
}

export const CreateMode = zookeeper.CreateMode;
export const Permission = zookeeper.Permission;
export const OPEN_ACL: readonly ZkAcl[] = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];

export function makeAcl(perms: number, scheme: string, id: string): ZkAcl {
  return new zookeeper.ACL(perms, new zookeeper.Id(scheme, id));
}

/** ZooKeeper's BADARGUMENTS, for arguments the library refuses before sending. */
const BAD_ARGUMENTS = -8;

const EVENT_TYPES: Record<number, WatchEvent['type']> = {
  [zookeeper.Event.NODE_CREATED]: 'created',
  [zookeeper.Event.NODE_DELETED]: 'deleted',
  [zookeeper.Event.NODE_DATA_CHANGED]: 'dataChanged',
  [zookeeper.Event.NODE_CHILDREN_CHANGED]: 'childrenChanged',
};

export class ZkClient {
  private readonly client: Client;
  private readonly manager: RawConnectionManager;
  /**
   * The library registers a watcher per (path, function) pair and drops
   * duplicates by identity, so each caller's watcher is wrapped once and the
   * wrapper is reused: re-reading a node with the same watcher re-arms it
   * instead of stacking callbacks.
   */
  private readonly wrapped = new WeakMap<Watcher, (event: ZkEvent) => void>();

  constructor(private readonly options: ZkClientOptions) {
    this.client = zookeeper.createClient(options.connectString, {
      sessionTimeout: options.sessionTimeoutMs,
      spinDelay: options.spinDelayMs,
      retries: 0,
    });
    // Not in the published types: the connection manager owns the socket and
    // the fine-grained states (CONNECTING, CLOSED) the client does not emit.
    this.manager = (this.client as unknown as { connectionManager: RawConnectionManager }).connectionManager;
    splitFramesBeforeLibrary(this.manager);
    this.manager.watcherManager = new WatcherRegistry();
  }

  connect(): void {
    this.client.connect();
  }

  /** Credentials are kept by the library and re-sent on every (re)connect of this client. */
  addAuth(scheme: string, credentials: string): void {
    this.client.addAuthInfo(scheme, Buffer.from(credentials, 'utf8'));
  }

  /** 8 bytes; all zero until the first connect. */
  sessionId(): Buffer {
    return this.client.getSessionId();
  }

  sessionPassword(): Buffer {
    return this.client.getSessionPassword();
  }

  /** As negotiated with the server once connected (the server clamps it to its min/max). */
  negotiatedTimeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  connectionState(): number {
    return this.manager.state;
  }

  onConnectionState(listener: (state: number) => void): () => void {
    this.manager.on('state', listener);
    return () => this.manager.removeListener('state', listener);
  }

  /** The socket of the current connection attempt, if any (identity changes on each attempt). */
  socket(): Socket | undefined {
    return this.manager.socket;
  }

  /**
   * Drops the current TCP connection. The library treats the close like any
   * connection loss: pending requests fail with CONNECTION_LOSS, it connects
   * to the next server of the list and resumes the same session there
   * (watches are restored with SET_WATCHES). This is the only lever the
   * library gives against a server that stopped answering without closing
   * the socket: it sends pings but never checks that they are answered.
   */
  dropConnection(): boolean {
    const socket = this.manager.socket;
    if (!socket || socket.destroyed) return false;
    socket.destroy();
    return true;
  }

  /**
   * Sends CLOSE_SESSION (the server deletes our ephemerals at once) and
   * resolves when the server has closed the connection, or after the
   * operation timeout. While not connected the request cannot be sent: the
   * attempt in progress is dropped, the library is told not to reconnect,
   * and the session is left to expire on the server.
   */
  async close(): Promise<void> {
    const state = this.manager.state;
    if (state === ConnectionState.CLOSED || state === ConnectionState.CLOSING) return;
    if (state !== ConnectionState.CONNECTED && state !== ConnectionState.CONNECTED_READ_ONLY) {
      if (state !== ConnectionState.SESSION_EXPIRED && state !== ConnectionState.AUTHENTICATION_FAILED) this.client.close();
      this.dropConnection();
      return;
    }
    const closed = new Promise<void>((resolve) => {
      const listener = (next: number): void => {
        if (next === ConnectionState.CLOSED) {
          this.manager.removeListener('state', listener);
          resolve();
        }
      };
      this.manager.on('state', listener);
    });
    this.client.close();
    await withDeadline(closed, this.options.operationTimeoutMs, () => new Error('close timed out')).catch(() => {
      this.dropConnection();
    });
  }

  getChildren(path: string, watcher?: Watcher): Promise<{ children: string[]; stat: Stat }> {
    return this.call('getChildren', path, (done) => {
      const callback = (error: unknown, children: string[], stat: Stat): void => done(error, { children: children ?? [], stat });
      if (watcher) this.client.getChildren(path, this.wrap(watcher), callback);
      else this.client.getChildren(path, callback);
    });
  }

  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer; stat: Stat }> {
    return this.call('getData', path, (done) => {
      // The library hands back null for a znode without data.
      const callback = (error: unknown, data: Buffer | null, stat: Stat): void => done(error, { data: data ?? Buffer.alloc(0), stat });
      if (watcher) this.client.getData(path, this.wrap(watcher), callback);
      else this.client.getData(path, callback);
    });
  }

  /** Resolves null when the znode does not exist; a watcher then fires when it is created. */
  exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    return this.call('exists', path, (done) => {
      const callback = (error: unknown, stat: Stat | null): void => done(error, stat ?? null);
      if (watcher) this.client.exists(path, this.wrap(watcher), callback);
      else this.client.exists(path, callback);
    });
  }

  create(path: string, data: Buffer, acl: readonly ZkAcl[], ephemeral: boolean): Promise<string> {
    return this.call('create', path, (done) => {
      this.client.create(path, data, [...acl], ephemeral ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT, (error, created) => done(error, created));
    });
  }

  setData(path: string, data: Buffer, version: number): Promise<Stat> {
    return this.call('setData', path, (done) => {
      this.client.setData(path, data, version, (error, stat) => done(error, stat));
    });
  }

  remove(path: string, version: number): Promise<void> {
    return this.call('delete', path, (done) => {
      this.client.remove(path, version, (error) => done(error, undefined));
    });
  }

  /** The znode's ACL as plain entries (the library's ACL objects carry `permission`, not the typed `perms`). */
  getAcl(path: string): Promise<AclEntry[]> {
    return this.call('getACL', path, (done) => {
      this.client.getACL(path, (error, acls) => {
        const entries = (acls ?? []).map((acl) => {
          const raw = acl as unknown as { permission: number; id: { scheme: string; id: string } };
          return { perms: raw.permission, scheme: raw.id.scheme, id: raw.id.id };
        });
        done(error, entries);
      });
    });
  }

  /** Runs the ops atomically (ZooKeeper multi): all or none. */
  multi(ops: readonly TxOp[]): Promise<void> {
    const subject = ops.map((op) => op.path).join(', ');
    return this.call('multi', subject, (done) => {
      const tx = this.client.transaction() as unknown as RawTransaction;
      for (const op of ops) {
        switch (op.op) {
          case 'create':
            tx.create(op.path, op.data, [...op.acl], op.ephemeral ? CreateMode.EPHEMERAL : CreateMode.PERSISTENT);
            break;
          case 'remove':
            tx.remove(op.path, op.version);
            break;
          case 'setData':
            tx.setData(op.path, op.data, op.version);
            break;
          case 'check':
            tx.check(op.path, op.version);
            break;
        }
        // The library's Transaction turns version 0 into -1 (`version || -1`),
        // silently making "delete if still version 0" an unconditional delete.
        if (op.op !== 'create') tx.ops[tx.ops.length - 1]!.version = op.version;
      }
      tx.commit((error) => done(error, undefined));
    });
  }

  private wrap(watcher: Watcher): (event: ZkEvent) => void {
    let wrapped = this.wrapped.get(watcher);
    if (!wrapped) {
      wrapped = (event: ZkEvent) => {
        const type = EVENT_TYPES[event.getType()];
        if (type) watcher({ type, path: event.getPath() });
      };
      this.wrapped.set(watcher, wrapped);
    }
    return wrapped;
  }

  /**
   * Issues one library call under a deadline. A request queued while the
   * client is disconnected waits in the library's queue with no timeout of
   * its own; the deadline turns that into an LH_ZK_TIMEOUT error. (The
   * request may still be sent after a reconnect: callers keep every write
   * idempotent for that reason.)
   */
  private call<T>(op: string, path: string, start: (done: (error: unknown, value: T) => void) => void): Promise<T> {
    const request = new Promise<T>((resolve, reject) => {
      try {
        start((error, value) => {
          if (error) reject(toZookeeperError(op, path, error));
          else resolve(value);
        });
      } catch (error) {
        // The library validates arguments (paths, sizes) with synchronous asserts.
        reject(new ZookeeperError(op, path, BAD_ARGUMENTS, `rejected by the client: ${(error as Error).message}`, error));
      }
    });
    return withDeadline(request, this.options.operationTimeoutMs, () => new ZookeeperError(op, path, undefined, `no answer within ${this.options.operationTimeoutMs} ms`));
  }
}

/**
 * The library copies the unread rest of a socket read once per response in
 * it (see FrameSplitter): quadratic in the responses per read, and the bulk
 * of the writer's memory after reading 10,000 znodes at start. It is handed
 * one whole frame at a time instead, which it handles without copying. Set on
 * this instance (not the prototype): the library binds `onSocketData` to each
 * new socket when it connects.
 */
function splitFramesBeforeLibrary(manager: RawConnectionManager): void {
  const handle = manager.onSocketData.bind(manager);
  let socket: Socket | undefined;
  const splitter = new FrameSplitter(handle);
  manager.onSocketData = (chunk: Buffer): void => {
    const current = manager.socket;
    if (current !== socket) {
      splitter.reset();
      socket = current;
    }
    // A frame the library finds wrong makes it destroy the socket: the rest of the read is void.
    splitter.push(chunk, () => manager.socket !== current || current?.destroyed === true);
  };
}

type RawWatcher = (event: ZkEvent) => void;
/** A path's one-shot watchers: a single function in the usual case, so a watch costs no array. */
type Registered = RawWatcher | RawWatcher[];

/**
 * The one-shot watchers of a connection, by path, with the methods the
 * library's ConnectionManager calls on its WatcherManager (register, the
 * paths to restore after a reconnect, emit, isEmpty) and the same behaviour:
 * a watcher is registered once per path however often it is passed, fires
 * once, and data watchers fire before existence or child watchers.
 *
 * Why: the library keeps an EventEmitter per watched path, with a listener
 * array, a `once` wrapper and a bound function: ~420 bytes per znode. The
 * writer keeps a data watch on every member (10,000 in a large fleet), so
 * that was ~4.5 MB of the writer's heap; a Map entry holding the function is
 * ~40 bytes.
 */
export class WatcherRegistry {
  private readonly data = new Map<string, Registered>();
  private readonly child = new Map<string, Registered>();
  private readonly existence = new Map<string, Registered>();

  registerDataWatcher(path: string, watcher: RawWatcher): void {
    register(this.data, path, watcher);
  }

  registerChildWatcher(path: string, watcher: RawWatcher): void {
    register(this.child, path, watcher);
  }

  registerExistenceWatcher(path: string, watcher: RawWatcher): void {
    register(this.existence, path, watcher);
  }

  getDataWatcherPaths(): string[] {
    return [...this.data.keys()];
  }

  getChildWatcherPaths(): string[] {
    return [...this.child.keys()];
  }

  getExistenceWatcherPaths(): string[] {
    return [...this.existence.keys()];
  }

  isEmpty(): boolean {
    return this.data.size === 0 && this.child.size === 0 && this.existence.size === 0;
  }

  /** `watcherEvent`: the server's notification (jute WatcherEvent: type, state, path). */
  emit(watcherEvent: { type: number; path: string }): void {
    const { path } = watcherEvent;
    const fired: Registered[] = [];
    const take = (watchers: Map<string, Registered>): void => {
      const registered = watchers.get(path);
      if (registered === undefined) return;
      watchers.delete(path);
      fired.push(registered);
    };
    switch (watcherEvent.type) {
      case zookeeper.Event.NODE_DATA_CHANGED:
      case zookeeper.Event.NODE_CREATED:
        take(this.data);
        take(this.existence);
        break;
      case zookeeper.Event.NODE_CHILDREN_CHANGED:
        take(this.child);
        break;
      case zookeeper.Event.NODE_DELETED:
        take(this.data);
        take(this.child);
        break;
      default:
        throw new Error(`Unknown event type: ${watcherEvent.type}`);
    }
    if (fired.length === 0) return;
    const event = (zookeeper.Event as unknown as { create(raw: { type: number; path: string }): ZkEvent }).create(watcherEvent);
    for (const registered of fired) {
      if (typeof registered === 'function') registered(event);
      else for (const watcher of registered) watcher(event);
    }
  }
}

function register(watchers: Map<string, Registered>, path: string, watcher: RawWatcher): void {
  const registered = watchers.get(path);
  if (registered === undefined) watchers.set(path, watcher);
  else if (typeof registered === 'function') {
    if (registered !== watcher) watchers.set(path, [registered, watcher]);
  } else if (!registered.includes(watcher)) registered.push(watcher);
}

function toZookeeperError(op: string, path: string, error: unknown): ZookeeperError {
  if (error instanceof ZookeeperError) return error;
  if (typeof error === 'object' && error !== null && 'getCode' in error && typeof error.getCode === 'function') {
    const code = (error as { getCode(): number }).getCode();
    const name = 'getName' in error && typeof error.getName === 'function' ? String((error as { getName(): string }).getName()) : `code ${code}`;
    return new ZookeeperError(op, path, code, name, error);
  }
  return new ZookeeperError(op, path, -1, error instanceof Error ? error.message : String(error), error);
}
