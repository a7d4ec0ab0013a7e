import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import zookeeper from 'node-zookeeper-client';
import type { ACL as LibAcl, Client } from 'node-zookeeper-client';
import { LighthouseError } from '../../lib/errors.js';
import { ConnectionState, type Acl, type ConnectionInfo, type EngineOptions, type Stat, type TxOp, type Watcher, type ZkEngine } from './engine.js';
import { WatcherRegistry } from './engine-node-zookeeper-client-watchers.js';
import { FrameSplitter } from './frames.js';
import { ReconnectPacing } from './reconnect-pacing.js';
import { ZookeeperError } from './zk-errors.js';

/**
 * The node-zookeeper-client engine: the one file that touches the library.
 * Its published API lacks what we need (connection states below the client,
 * the socket, a multi that keeps version 0), and it has defects on the paths
 * that decide correctness, so besides the public API this file patches
 * private parts of 1.1.3 (listed in LIBRARY_SHAPE). The first engine built
 * checks that those parts are still there with the expected kinds and
 * refuses to start (LH_ZK_LIBRARY, naming each difference) otherwise: an
 * upgrade fails loudly at start-up instead of misbehaving on a reconnect.
 */

const require = createRequire(import.meta.url);

/** The parts of the library's private ConnectionManager we use (read from its source). */
interface RawConnectionManager {
  state: number;
  socket?: Socket;
  /** handles the socket's bytes; bound to the socket's 'data' event on each connect */
  onSocketData(chunk: Buffer): void;
  /** picks the server of the next connection attempt (after its own spin delay at the end of a round); called by connect() */
  findNextServer(callback: (server: unknown) => void): void;
  /** the parsed connect string */
  servers: unknown[];
  /** one-shot watchers by path; replaced by WatcherRegistry (same methods) */
  watcherManager: unknown;
  /** queues a request (jute Request: `header`, `payload`, `toBuffer()`); `callback(error, response)` when its reply arrives */
  queue(request: AddWatchRequest | QueuedRequest, callback?: (error: unknown) => void): void;
  /** requests not sent yet; kept across connection attempts */
  packetQueue: { queue: { request: QueuedRequest }[] };
  connect(): void;
  on(event: 'state', listener: (state: number) => void): unknown;
  removeListener(event: 'state', listener: (state: number) => void): unknown;
}

/** A transaction as the library's Transaction keeps it before serializing: ops carry the version. */
interface RawTransaction {
  ops: { version?: number }[];
  create(path: string, data: Buffer, acls: LibAcl[], mode: number): RawTransaction;
  remove(path: string, version: number): RawTransaction;
  setData(path: string, data: Buffer, version: number): RawTransaction;
  check(path: string, version: number): RawTransaction;
  commit(callback: (error: unknown) => void): void;
}

/**
 * addWatch (ZooKeeper 3.6+, opcode 106), which the library does not know.
 * It is queued through the library like any request: the library assigns
 * `header.xid` when it sends it (then calls toBuffer) and matches the reply
 * by xid; it picks how to parse a reply by `header.type`, so the header says
 * SET_WATCHES (101), whose reply it takes as empty, while toBuffer writes
 * opcode 106. The server's reply to addWatch is the header plus a 4-byte
 * result (ErrorResponse), which the library ignores (it reads only what
 * the type's payload needs). Serialized as jute does (AddWatchRequest:
 * ustring path, int mode): length, xid, type, path length + UTF-8, mode.
 */
class AddWatchRequest {
  readonly header = { xid: 0, type: SET_WATCHES_OPCODE };
  /** the library hands a request's payload the connect string's chroot; ours is here */
  readonly payload = { setChrootPath: (chroot: string | undefined): void => void (this.chroot = chroot) };
  private chroot: string | undefined;

  constructor(private readonly path: string) {}

  toBuffer(): Buffer {
    const path = Buffer.from(this.chroot ? (this.path === '/' ? this.chroot : this.chroot + this.path) : this.path, 'utf8');
    const buffer = Buffer.alloc(4 + 4 + 4 + 4 + path.length + 4);
    let offset = buffer.writeInt32BE(buffer.length - 4, 0);
    offset = buffer.writeInt32BE(this.header.xid, offset);
    offset = buffer.writeInt32BE(ADD_WATCH_OPCODE, offset);
    offset = buffer.writeInt32BE(path.length, offset);
    offset += path.copy(buffer, offset);
    buffer.writeInt32BE(PERSISTENT_RECURSIVE, offset);
    return buffer;
  }
}
/** A request as the library queues it (its own jute Request, or ours). */
interface QueuedRequest {
  header: { type: number } | null;
}
const ADD_WATCH_OPCODE = 106;
const SET_WATCHES_OPCODE = 101;
/** AddWatchMode.PERSISTENT_RECURSIVE */
const PERSISTENT_RECURSIVE = 1;

/** The library's ConnectionManager.STATES, in our names. */
const LIBRARY_STATES: Record<string, [number, ConnectionState]> = {
  DISCONNECTED: [0, ConnectionState.DISCONNECTED],
  CONNECTING: [1, ConnectionState.CONNECTING],
  CONNECTED: [2, ConnectionState.CONNECTED],
  CONNECTED_READ_ONLY: [3, ConnectionState.CONNECTED_READ_ONLY],
  CLOSING: [-1, ConnectionState.CLOSING],
  CLOSED: [-2, ConnectionState.CLOSED],
  SESSION_EXPIRED: [-3, ConnectionState.SESSION_EXPIRED],
  AUTHENTICATION_FAILED: [-4, ConnectionState.AUTHENTICATION_FAILED],
};
const STATE_BY_NUMBER = new Map(Object.values(LIBRARY_STATES));

/** The WatcherManager methods the library calls, all of which WatcherRegistry implements. */
const WATCHER_MANAGER_METHODS = ['registerDataWatcher', 'registerChildWatcher', 'registerExistenceWatcher', 'getDataWatcherPaths', 'getChildWatcherPaths', 'getExistenceWatcherPaths', 'emit', 'isEmpty'];

/** What the shape check is fed: library objects as the engine finds them, before patching anything. */
export interface LibraryShape {
  version: string;
  /** a client as createClient returns it, not connected */
  client: unknown;
  /** ConnectionManager.STATES */
  states: unknown;
  /** a fresh transaction after `check(path, 1)`: its op list must hold that op with its version */
  transaction: unknown;
  /** jute's OP_CODES (addWatch rides on SET_WATCHES' reply handling) */
  opCodes: unknown;
}

/**
 * Throws LH_ZK_LIBRARY naming every private member that is missing or of
 * another kind than the engine patches or reads.
 */
export function checkLibraryShape(shape: LibraryShape): void {
  const problems: string[] = [];
  const expect = (ok: boolean, what: string): boolean => {
    if (!ok) problems.push(what);
    return ok;
  };
  const manager = field(shape.client, 'connectionManager');
  if (expect(isObject(manager), 'client.connectionManager is not an object')) {
    expect(typeof field(manager, 'state') === 'number', 'connectionManager.state is not a number');
    for (const method of ['onSocketData', 'findNextServer', 'connect', 'on', 'removeListener']) expect(typeof field(manager, method) === 'function', `connectionManager.${method} is not a function`);
    expect(Array.isArray(field(manager, 'servers')), 'connectionManager.servers is not an array');
    // onSocketData is looked up on the instance when each socket connects: that is what makes our per-instance wrapper take effect.
    const connect = field(manager, 'connect');
    if (typeof connect === 'function') {
      expect(/\.socket\s*=/.test(String(connect)) && /\.onSocketData\.bind\(/.test(String(connect)), 'connectionManager.connect no longer sets .socket and binds .onSocketData');
      // Reconnect pacing wraps findNextServer on the instance: connect must still look it up there.
      expect(/\.findNextServer\(/.test(String(connect)), 'connectionManager.connect no longer calls .findNextServer');
    }
    // addWatch (AddWatchRequest): queued with `queue`, its xid assigned before toBuffer is called, its reply parsed as SET_WATCHES' (no payload).
    expect(typeof field(manager, 'queue') === 'function', 'connectionManager.queue is not a function');
    expect(Array.isArray(field(field(manager, 'packetQueue'), 'queue')), 'connectionManager.packetQueue.queue is not an array');
    const prototype: unknown = Object.getPrototypeOf(manager);
    const readable = String(field(prototype, 'onPacketQueueReadable'));
    expect(/header\.xid\s*=\s*this\.xid[\s\S]*request\.toBuffer\(\)/.test(readable), 'connectionManager.onPacketQueueReadable no longer assigns header.xid before request.toBuffer()');
    expect(/OP_CODES\.SET_WATCHES:\s*responsePayload\s*=\s*null/.test(String(field(prototype, 'onSocketData'))), 'connectionManager.onSocketData no longer takes a SET_WATCHES reply as empty');
    const watchers = field(manager, 'watcherManager');
    if (expect(isObject(watchers), 'connectionManager.watcherManager is not an object')) {
      const methods = methodNames(watchers as object);
      for (const method of WATCHER_MANAGER_METHODS) expect(methods.has(method), `watcherManager.${method} is missing`);
      for (const method of methods) expect(WATCHER_MANAGER_METHODS.includes(method), `watcherManager.${method} is new (WatcherRegistry does not implement it)`);
    }
  }
  if (expect(isObject(shape.states), 'ConnectionManager.STATES is not an object')) {
    for (const [name, [value]] of Object.entries(LIBRARY_STATES)) expect(field(shape.states, name) === value, `ConnectionManager.STATES.${name} is not ${value}`);
  }
  const ops = field(shape.transaction, 'ops');
  if (expect(Array.isArray(ops), 'transaction.ops is not an array')) {
    const last: unknown = (ops as unknown[]).at(-1);
    expect(isObject(last) && field(last, 'version') === 1, 'transaction.ops[] does not hold the version of the op just added');
  }
  for (const method of ['create', 'remove', 'setData', 'check', 'commit']) expect(typeof field(shape.transaction, method) === 'function', `transaction.${method} is not a function`);
  expect(field(shape.opCodes, 'SET_WATCHES') === SET_WATCHES_OPCODE, `jute OP_CODES.SET_WATCHES is not ${SET_WATCHES_OPCODE}`);
  expect(!Object.values(isObject(shape.opCodes) ? shape.opCodes : {}).includes(ADD_WATCH_OPCODE), `jute OP_CODES has ${ADD_WATCH_OPCODE} (addWatch): the library now knows it, use its own`);
  if (problems.length > 0) {
    throw new LighthouseError('LH_ZK_LIBRARY', `node-zookeeper-client ${shape.version} is not the library this engine was written against (1.1.3): ${problems.join('; ')}`);
  }
}

function field(target: unknown, name: string): unknown {
  return isObject(target) ? (target as Record<string, unknown>)[name] : undefined;
}

function isObject(value: unknown): value is object {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

/** Members of an object and its prototypes (up to Object) that resolve to a function on the object. */
function methodNames(target: object): Set<string> {
  const names = new Set<string>();
  for (let proto: object | null = target; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && typeof field(target, name) === 'function') names.add(name);
    }
  }
  return names;
}

let shapeChecked = false;

/**
 * Runs the shape check once per process (memoized after it passes). Called
 * when a discovery is created, so a changed library is reported against its
 * config file before anything connects; every engine built checks too.
 */
export function ensureLibraryShape(): void {
  if (shapeChecked) return;
  checkLibraryShape(libraryShape());
  shapeChecked = true;
}

/** The shape of the installed library, read from `client` (a new, unconnected one by default). */
export function libraryShape(client: Client = zookeeper.createClient('127.0.0.1:1')): LibraryShape {
  const transaction = client.transaction() as unknown as RawTransaction;
  transaction.check('/', 1);
  return {
    version: String(field(optionalRequire('node-zookeeper-client/package.json'), 'version') ?? '(unknown version)'),
    client,
    states: field(optionalRequire('node-zookeeper-client/lib/ConnectionManager.js'), 'STATES'),
    transaction,
    opCodes: field(optionalRequire('node-zookeeper-client/lib/jute/index.js'), 'OP_CODES'),
  };
}

/** A private module of the library, or undefined when a newer version no longer has it or no longer lets us import it (package `exports`). */
function optionalRequire(id: string): unknown {
  try {
    return require(id) as unknown;
  } catch {
    return undefined;
  }
}

/** Process-wide, so a connection of a rebuilt client never repeats the id of the old client's. */
let nextSocketId = 1;

/** ZooKeeper's BADARGUMENTS, for arguments the library refuses before sending. */
const BAD_ARGUMENTS = -8;

export class NodeZookeeperClientEngine implements ZkEngine {
  private readonly client: Client;
  private readonly manager: RawConnectionManager;
  private readonly watchers = new WatcherRegistry();
  /** connection ids: a socket's identity without handing the socket out */
  private readonly socketIds = new WeakMap<Socket, number>();
  /** when each connection last brought data from the server (liveness probes only a silent one) */
  private readonly heardAt = new WeakMap<Socket, number>();
  /** our ACL lists as the library's objects, per list (callers reuse one list for every create) */
  private readonly acls = new WeakMap<readonly Acl[], LibAcl[]>();

  constructor(options: EngineOptions) {
    this.client = zookeeper.createClient(options.connectString, {
      sessionTimeout: options.sessionTimeoutMs,
      // ReconnectPacing waits instead (spinDelayMs is its first window): the library's own wait would come on top.
      spinDelay: 0,
      retries: 0,
    });
    if (!shapeChecked) {
      checkLibraryShape(libraryShape(this.client));
      shapeChecked = true;
    }
    this.manager = (this.client as unknown as { connectionManager: RawConnectionManager }).connectionManager;
    splitFramesBeforeLibrary(this.manager, (socket) => this.heardAt.set(socket, performance.now()));
    dropSupersededSetWatches(this.manager);
    paceReconnects(this.manager, new ReconnectPacing(options.spinDelayMs, () => this.client.getSessionTimeout(), options.reconnectRandom, options.maxReconnectWindowMs));
    this.manager.watcherManager = this.watchers;
  }

  connect(): void {
    this.client.connect();
  }

  close(): void {
    this.client.close();
  }

  addAuth(scheme: string, credentials: string): void {
    this.client.addAuthInfo(scheme, Buffer.from(credentials, 'utf8'));
  }

  sessionId(): Buffer {
    return this.client.getSessionId();
  }

  sessionPassword(): Buffer {
    return this.client.getSessionPassword();
  }

  negotiatedTimeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  state(): ConnectionState {
    return toState(this.manager.state);
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    const raw = (state: number): void => listener(toState(state));
    this.manager.on('state', raw);
    return () => this.manager.removeListener('state', raw);
  }

  connection(): ConnectionInfo | undefined {
    const socket = this.manager.socket;
    if (!socket) return undefined;
    let id = this.socketIds.get(socket);
    if (id === undefined) {
      id = nextSocketId++;
      this.socketIds.set(socket, id);
    }
    const lastHeardAt = this.heardAt.get(socket);
    return { id, server: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, open: !socket.destroyed, ...(lastHeardAt === undefined ? {} : { lastHeardAt }) };
  }

  /**
   * The library treats the close like any connection loss: pending requests
   * fail with CONNECTION_LOSS, it connects to the next server of the list and
   * resumes the same session there (watches are restored with SET_WATCHES).
   */
  dropConnection(): boolean {
    const socket = this.manager.socket;
    if (!socket || socket.destroyed) return false;
    socket.destroy();
    return true;
  }

  getChildren(path: string, watcher?: Watcher): Promise<{ children: string[]; stat: Stat }> {
    return request('getChildren', path, (done) => {
      const callback = (error: unknown, children: string[], stat: Stat): void => done(error, { children: children ?? [], stat });
      // Our Watcher goes to the library as it is: the library only stores it in the WatcherRegistry, which calls it with our WatchEvent.
      if (watcher) this.client.getChildren(path, watcher as never, callback);
      else this.client.getChildren(path, callback);
    });
  }

  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer; stat: Stat }> {
    return request('getData', path, (done) => {
      // The library hands back null for a znode without data.
      const callback = (error: unknown, data: Buffer | null, stat: Stat): void => done(error, { data: data ?? Buffer.alloc(0), stat });
      if (watcher) this.client.getData(path, watcher as never, callback);
      else this.client.getData(path, callback);
    });
  }

  exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    return request('exists', path, (done) => {
      const callback = (error: unknown, stat: Stat | null): void => done(error, stat ?? null);
      if (watcher) this.client.exists(path, watcher as never, callback);
      else this.client.exists(path, callback);
    });
  }

  addWatch(path: string, watcher: Watcher): Promise<void> {
    return request('addWatch', path, (done) => {
      // Registered before the request goes: the server's first notification can follow its reply in the same read.
      this.watchers.addPersistentRecursive(path, watcher);
      this.manager.queue(new AddWatchRequest(path), (error) => {
        if (error) this.watchers.removePersistentRecursive(path, watcher);
        done(error, undefined);
      });
    });
  }

  removeWatcher(path: string, watcher: Watcher): void {
    this.watchers.removePersistentRecursive(path, watcher);
  }

  create(path: string, data: Buffer, acl: readonly Acl[], ephemeral: boolean): Promise<string> {
    return request('create', path, (done) => {
      this.client.create(path, data, this.libraryAcl(acl), createMode(ephemeral), (error, created) => done(error, created));
    });
  }

  setData(path: string, data: Buffer, version: number): Promise<Stat> {
    return request('setData', path, (done) => {
      this.client.setData(path, data, version, (error, stat) => done(error, stat));
    });
  }

  remove(path: string, version: number): Promise<void> {
    return request('delete', path, (done) => {
      this.client.remove(path, version, (error) => done(error, undefined));
    });
  }

  /** The library's ACL objects carry `permission` (its typings say `perms`). */
  getAcl(path: string): Promise<Acl[]> {
    return request('getACL', path, (done) => {
      this.client.getACL(path, (error, acls) => {
        const entries = (acls ?? []).map((acl) => {
          const raw = acl as unknown as { permission: number; id: { scheme: string; id: string } };
          return { perms: raw.permission, scheme: raw.id.scheme, id: raw.id.id };
        });
        done(error, entries);
      });
    });
  }

  multi(ops: readonly TxOp[]): Promise<void> {
    return request('multi', ops.map((op) => op.path).join(', '), (done) => {
      const tx = this.client.transaction() as unknown as RawTransaction;
      for (const op of ops) {
        if (op.op === 'create') tx.create(op.path, op.data, this.libraryAcl(op.acl), createMode(op.ephemeral));
        else if (op.op === 'remove') tx.remove(op.path, op.version);
        else if (op.op === 'setData') tx.setData(op.path, op.data, op.version);
        else tx.check(op.path, op.version);
        // The library's Transaction turns version 0 into -1 (`version || -1`),
        // silently making "delete if still version 0" an unconditional delete.
        if (op.op !== 'create') tx.ops[tx.ops.length - 1]!.version = op.version;
      }
      tx.commit((error) => done(error, undefined));
    });
  }

  private libraryAcl(acl: readonly Acl[]): LibAcl[] {
    let converted = this.acls.get(acl);
    if (!converted) {
      converted = acl.map((entry) => new zookeeper.ACL(entry.perms, new zookeeper.Id(entry.scheme, entry.id)));
      this.acls.set(acl, converted);
    }
    return converted;
  }
}

function toState(state: number): ConnectionState {
  // The start-up check pinned the numbers; an unknown one is a state we cannot use the connection in.
  return STATE_BY_NUMBER.get(state) ?? ConnectionState.DISCONNECTED;
}

function createMode(ephemeral: boolean): number {
  return ephemeral ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT;
}

/** One library call as a promise, with the library's errors as ZookeeperErrors naming the znode. */
function request<T>(op: string, path: string, start: (done: (error: unknown, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
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
}

/**
 * The library copies the unread rest of a socket read once per response in
 * it (see FrameSplitter): quadratic in the responses per read, and the bulk
 * of the writer's memory after reading 10,000 znodes at start. It is handed
 * one whole frame at a time instead, which it handles without copying. Set on
 * this instance (not the prototype): the library binds `onSocketData` to each
 * new socket when it connects.
 */
function splitFramesBeforeLibrary(manager: RawConnectionManager, heard: (socket: Socket) => void): void {
  const handle = manager.onSocketData.bind(manager);
  let socket: Socket | undefined;
  const splitter = new FrameSplitter(handle);
  manager.onSocketData = (chunk: Buffer): void => {
    const current = manager.socket;
    if (current !== socket) {
      splitter.reset();
      socket = current;
    }
    if (current) heard(current);
    // A frame the library finds wrong makes it destroy the socket: the rest of the read is void.
    splitter.push(chunk, () => manager.socket !== current || current?.destroyed === true);
  };
}

/**
 * Holds each connection attempt back by ReconnectPacing's delay. Set on this
 * instance: `connect()` calls `this.findNextServer` for every attempt, the
 * first and every one after a loss.
 */
function paceReconnects(manager: RawConnectionManager, pacing: ReconnectPacing): void {
  const find = manager.findNextServer.bind(manager);
  manager.on('state', (state) => {
    if (state === LIBRARY_STATES.CONNECTED![0] || state === LIBRARY_STATES.CONNECTED_READ_ONLY![0]) pacing.connected();
  });
  manager.findNextServer = (callback): void => {
    const delay = pacing.nextDelay(manager.servers.length);
    if (delay <= 0) {
      find(callback);
      return;
    }
    // Holds the process open, as the library's own wait does: a client waiting for its ensemble is work in progress.
    setTimeout(() => find(callback), delay);
  };
}

/**
 * The library queues a SET_WATCHES on every TCP connect, before the
 * handshake, and never takes unsent requests out of its queue when the
 * connection fails. An attempt that connects and is closed at once (a
 * server starting up, a proxy refusing) thus leaves one behind, and the
 * connection that finally works sends them all: the server replays every
 * missed watch event once per copy. The newest one is built from the
 * current watcher table, so the older unsent ones are dropped when it is
 * queued. (Our addWatch also says SET_WATCHES in its header, for the reply's
 * sake: it is not touched.)
 */
function dropSupersededSetWatches(manager: RawConnectionManager): void {
  const queue = manager.queue.bind(manager);
  manager.queue = (request, callback): void => {
    if (request.header?.type === SET_WATCHES_OPCODE && !(request instanceof AddWatchRequest)) {
      const waiting = manager.packetQueue.queue;
      for (let i = waiting.length - 1; i >= 0; i -= 1) {
        const queued = waiting[i]!.request;
        if (queued.header?.type === SET_WATCHES_OPCODE && !(queued instanceof AddWatchRequest)) waiting.splice(i, 1);
      }
    }
    queue(request, callback);
  };
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
