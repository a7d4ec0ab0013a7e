/**
 * The ZooKeeper engine contract: everything Lighthouse needs from a
 * ZooKeeper client library, in our own types. Only an engine file
 * (engine-node-zookeeper-client.ts today) imports a library; the rest of
 * the plugin sees these types, never a library object, a numeric state or a
 * socket. See README.md "The engine" for why there is one door.
 */

/** The znode metadata we read (64-bit fields as 8-byte big-endian Buffers, as the protocol sends them). */
export interface Stat {
  czxid: Buffer;
  mzxid: Buffer;
  ctime: Buffer;
  mtime: Buffer;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: Buffer;
  dataLength: number;
  numChildren: number;
  pzxid: Buffer;
}

/** One ACL entry: permission bits (see Permission), scheme and id. */
export interface Acl {
  perms: number;
  scheme: string;
  id: string;
}

/** ZooKeeper's permission bits (protocol values). */
export const Permission = { READ: 1, WRITE: 2, CREATE: 4, DELETE: 8, ADMIN: 16, ALL: 31 } as const;

export const OPEN_ACL: readonly Acl[] = Object.freeze([Object.freeze({ perms: Permission.ALL, scheme: 'world', id: 'anyone' })]);

export function makeAcl(perms: number, scheme: string, id: string): Acl {
  return { perms, scheme, id };
}

export interface WatchEvent {
  type: 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';
  path: string;
}
/**
 * A one-shot watch callback. Passing the same function again for the same
 * path re-arms it rather than adding a second registration.
 */
export type Watcher = (event: WatchEvent) => void;

/** The connection's state, as our own names (no engine's numbers). */
export const ConnectionState = {
  DISCONNECTED: 'disconnected',
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  CONNECTED_READ_ONLY: 'connectedReadOnly',
  CLOSING: 'closing',
  CLOSED: 'closed',
  /** final: the client is dead, a new one must be built */
  SESSION_EXPIRED: 'sessionExpired',
  /** final: the server rejected our credentials */
  AUTHENTICATION_FAILED: 'authFailed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** The current connection attempt, without exposing its socket. */
export interface ConnectionInfo {
  /** changes with each new TCP connection (attempt) of the client */
  readonly id: number;
  /** `address:port` of the server, `?` for what is not known yet */
  readonly server: string;
  /** false once the connection is closed or destroyed */
  readonly open: boolean;
  /** when the server last sent anything on this connection (performance.now(), monotonic ms), if it has */
  readonly lastHeardAt?: number;
}

export type TxOp =
  | { op: 'create'; path: string; data: Buffer; acl: readonly Acl[]; ephemeral: boolean }
  | { op: 'remove'; path: string; version: number }
  | { op: 'setData'; path: string; data: Buffer; version: number }
  | { op: 'check'; path: string; version: number };

export interface EngineOptions {
  /** comma-separated `host:port` list */
  connectString: string;
  sessionTimeoutMs: number;
  /** the first window of the pause between full rounds over the server list while nothing answers (reconnect-pacing.ts) */
  spinDelayMs: number;
  /** the widest reconnect window (reconnect-pacing.ts; default 2 s): a bench's or test's observer client sets it low to notice a recovery at once */
  maxReconnectWindowMs?: number;
  /** the reconnect jitter's source (tests pin it); Math.random by default */
  reconnectRandom?: () => number;
}

/**
 * What an engine implements. Requests reject with a ZookeeperError carrying
 * the server's result code (zk-errors.ts); they carry no deadline of their
 * own (ZkClient adds one). An engine must: resume the same session on
 * another server after a connection loss and restore its watches; fire a
 * watcher once per registration; keep a multi's versions exactly as given
 * (0 means version 0, -1 means any).
 */
export interface ZkEngine {
  connect(): void;
  /** Asks for CLOSE_SESSION (or stops reconnecting when not connected); the state moves to CLOSED. */
  close(): void;
  /** Kept by the engine and sent after every (re)connect, before any request. */
  addAuth(scheme: string, credentials: string): void;
  /** 8 bytes; all zero until the first connect. */
  sessionId(): Buffer;
  sessionPassword(): Buffer;
  /** As negotiated with the server once connected. */
  negotiatedTimeoutMs(): number;
  state(): ConnectionState;
  onState(listener: (state: ConnectionState) => void): () => void;
  connection(): ConnectionInfo | undefined;
  /** Destroys the current TCP connection (treated as a connection loss); false if there is none. */
  dropConnection(): boolean;
  getChildren(path: string, watcher?: Watcher): Promise<{ children: string[]; stat: Stat }>;
  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer; stat: Stat }>;
  exists(path: string, watcher?: Watcher): Promise<Stat | null>;
  /**
   * A persistent recursive watch (ZooKeeper 3.6+ `addWatch`, mode
   * PERSISTENT_RECURSIVE) on `path`, existing or not: `watcher` hears
   * created / deleted / dataChanged of `path` and every descendant (never
   * childrenChanged) until the connection ends. It is not restored after a
   * reconnect and the server replays nothing it missed: re-add it on every
   * ready, then re-read. Rejects with a ZookeeperError; code UNIMPLEMENTED
   * (-6) means the server is older than 3.6 (it also closes the connection).
   * A notification that also matches one-shot watches calls each distinct
   * function once.
   */
  addWatch(path: string, watcher: Watcher): Promise<void>;
  /** Forgets `watcher` for `path` locally (the server keeps sending; nothing calls it). */
  removeWatcher(path: string, watcher: Watcher): void;
  create(path: string, data: Buffer, acl: readonly Acl[], ephemeral: boolean): Promise<string>;
  setData(path: string, data: Buffer, version: number): Promise<Stat>;
  remove(path: string, version: number): Promise<void>;
  getAcl(path: string): Promise<Acl[]>;
  multi(ops: readonly TxOp[]): Promise<void>;
}
