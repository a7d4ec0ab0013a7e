import { spawn, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { openSync, closeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePorts } from './ports.js';
import { stopChild } from './processes.js';
import { tempDir, type TempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';
import { ConnectionState, ZkClient, OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import { ZookeeperError } from '../../src/discovery/zookeeper/zk-errors.js';
import { isNodeExists } from '../../src/discovery/zookeeper/zk-errors.js';
import { fourLetterWord } from '../../src/discovery/zookeeper/four-letter-word.js';
import { zookeeperDiscovery, ZookeeperDiscovery } from '../../src/discovery/zookeeper/plugin.js';
import type { MemberSet } from '../../src/discovery/types.js';
import { silentLogger, type Logger } from '../../src/lib/logger.js';
import { pino, type LevelWithSilent } from 'pino';
import { performance } from 'node:perf_hooks';

/**
 * Real ZooKeeper servers for integration tests: a standalone server or an
 * ensemble of three on free 127.0.0.1 ports, in a temp dir, with a short tick
 * so session timeouts in tests can be short. Everything is stopped by PID;
 * `stop()` belongs in an after() hook, and an exit hook kills any JVM a
 * crashed test left behind.
 */

const ZOOKEEPER_CLASSPATH = '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar';
const JAVA_OPTS = ['-Xmx128m', '-Xss512k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto'];

const running = new Set<ChildProcess>();
function killAll(): void {
  for (const child of running) {
    if (!child.pid) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
// Backstops for a test process that dies before its after() hooks: JVMs must not outlive it.
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

export interface ZookeeperOptions {
  /** 1 (standalone, default) or 3 */
  servers?: 1 | 3;
  /** ms; sessions may be as short as 2 ticks */
  tickTime?: number;
  maxSessionTimeout?: number;
}

export interface ZookeeperServer {
  /** 1-based server id (myid) */
  id: number;
  clientPort: number;
  dataDir: string;
  configFile: string;
  process: ChildProcess | undefined;
}

export class ZookeeperCluster {
  private constructor(
    readonly dir: TempDir,
    readonly servers: ZookeeperServer[],
    readonly tickTime: number,
  ) {}

  /**
   * Starts the servers; a start that fails (a free port taken by someone
   * else in between, a slow election on a loaded machine) is retried once on
   * new ports, so a busy CI box does not fail a test for the harness's sake.
   */
  static async start(options: ZookeeperOptions = {}): Promise<ZookeeperCluster> {
    try {
      return await ZookeeperCluster.startOnce(options);
    } catch {
      return ZookeeperCluster.startOnce(options);
    }
  }

  private static async startOnce(options: ZookeeperOptions): Promise<ZookeeperCluster> {
    const count = options.servers ?? 1;
    const tickTime = options.tickTime ?? 200;
    const dir = await tempDir('lighthouse-zk-');
    const ports = await freePorts(count * 3);
    const servers: ZookeeperServer[] = [];
    const quorum = count > 1 ? Array.from({ length: count }, (_, i) => `server.${i + 1}=127.0.0.1:${ports[i * 3 + 1]}:${ports[i * 3 + 2]}`) : [];
    for (let i = 0; i < count; i += 1) {
      const id = i + 1;
      const dataDir = join(dir.path, `server${id}`);
      await mkdir(dataDir, { recursive: true });
      if (count > 1) await writeFile(join(dataDir, 'myid'), `${id}\n`);
      const configFile = join(dataDir, 'zoo.cfg');
      const lines = [
        `tickTime=${tickTime}`,
        `dataDir=${dataDir}`,
        `clientPort=${ports[i * 3]}`,
        'clientPortAddress=127.0.0.1',
        `minSessionTimeout=${tickTime * 2}`,
        `maxSessionTimeout=${options.maxSessionTimeout ?? 60_000}`,
        'initLimit=10',
        'syncLimit=5',
        'admin.enableServer=false',
        '4lw.commands.whitelist=*',
        'maxClientCnxns=0',
        // Tests create and drop many sessions; fsync per txn only slows them down.
        'forceSync=no',
        ...quorum,
      ];
      await writeFile(configFile, `${lines.join('\n')}\n`);
      servers.push({ id, clientPort: ports[i * 3]!, dataDir, configFile, process: undefined });
    }
    const cluster = new ZookeeperCluster(dir, servers, tickTime);
    try {
      for (const server of servers) cluster.launch(server);
      await Promise.all(servers.map((server) => cluster.waitServing(server.id)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** `127.0.0.1:p1,127.0.0.1:p2,...` */
  get connectString(): string {
    return this.hosts.join(',');
  }

  get hosts(): string[] {
    return this.servers.map((server) => `127.0.0.1:${server.clientPort}`);
  }

  server(id: number): ZookeeperServer {
    const server = this.servers.find((candidate) => candidate.id === id);
    if (!server) throw new Error(`no ZooKeeper server ${id}`);
    return server;
  }

  serverByPort(port: number): ZookeeperServer | undefined {
    return this.servers.find((candidate) => candidate.clientPort === port);
  }

  private launch(server: ZookeeperServer): void {
    const log = openSync(join(server.dataDir, 'server.log'), 'a');
    const child = spawn('java', [...JAVA_OPTS, '-cp', ZOOKEEPER_CLASSPATH, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', server.configFile], {
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    running.add(child);
    child.once('exit', () => running.delete(child));
    server.process = child;
  }

  /** Waits until the server answers `srvr` with a serving mode (standalone, leader or follower). */
  async waitServing(id: number, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      async () => {
        const text = await this.fourLetter(id, 'srvr');
        return /Mode: (standalone|leader|follower)/.exec(text)?.[1];
      },
      `ZooKeeper server ${id} to serve`,
      timeoutMs,
      50,
    );
  }

  /** Sends a four-letter word and returns the whole answer. */
  fourLetter(id: number, word: string, timeoutMs = 2000): Promise<string> {
    return fourLetterWord(this.server(id).clientPort, word, timeoutMs).catch((error: Error) => {
      throw new Error(`${word} to server ${id}: ${error.message}`);
    });
  }


  async mntr(id: number): Promise<Record<string, string>> {
    const text = await this.fourLetter(id, 'mntr');
    const stats: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const [key, value] = line.split('\t');
      if (key && value !== undefined) stats[key] = value.trim();
    }
    return stats;
  }

  /**
   * Requests the server has received. Every four-letter word counts as one
   * packet too, including the `mntr` that reads this: callers comparing two
   * readings subtract 1.
   */
  async packetsReceived(id = 1): Promise<number> {
    return Number((await this.mntr(id)).zk_packets_received);
  }

  async leader(): Promise<number> {
    for (const server of this.servers) {
      if (!server.process) continue;
      const text = await this.fourLetter(server.id, 'srvr').catch(() => '');
      if (/Mode: (leader|standalone)/.test(text)) return server.id;
    }
    throw new Error('no ZooKeeper leader');
  }

  /** Freezes the JVM: it keeps its sockets open but answers nothing, like a long GC pause or a hung VM. */
  pause(id: number): void {
    const pid = this.server(id).process?.pid;
    if (pid) process.kill(pid, 'SIGSTOP');
  }

  resume(id: number): void {
    const pid = this.server(id).process?.pid;
    if (pid) process.kill(pid, 'SIGCONT');
  }

  /** Stops one server by PID: SIGTERM, then SIGKILL if it has not exited. */
  async stopServer(id: number): Promise<void> {
    const server = this.server(id);
    const child = server.process;
    server.process = undefined;
    await stopChild(child);
  }

  /** Starts a stopped server again, on the same port and data dir (sessions and znodes survive). */
  async restartServer(id: number): Promise<void> {
    await this.stopServer(id);
    this.launch(this.server(id));
    await this.waitServing(id);
  }

  /** Stops every server and removes the temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => this.stopServer(server.id)));
    await this.dir.remove();
  }
}

/** A plain client for the test's own reads and writes (no liveness probe, so it does not disturb packet counts). */
export async function connectClient(connectString: string, options: { sessionTimeoutMs?: number; auth?: string } = {}): Promise<ZkClient> {
  // An observer, not one of a fleet: it polls a recovering ensemble every 100 ms so a test or bench sees the recovery at once.
  const client = new ZkClient({ connectString, sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000, operationTimeoutMs: 5000, spinDelayMs: 100, maxReconnectWindowMs: 100 });
  if (options.auth) client.addAuth('digest', options.auth);
  client.connect();
  await waitFor(() => client.connectionState() === ConnectionState.CONNECTED, 'test client to connect');
  return client;
}

/** Creates `path` and its missing parents, persistent, with open ACLs. */
export async function mkdirs(client: ZkClient, path: string): Promise<void> {
  const parts = path.split('/').slice(1);
  for (let i = 1; i <= parts.length; i += 1) {
    await client.create(`/${parts.slice(0, i).join('/')}`, Buffer.alloc(0), OPEN_ACL, false).catch((error: unknown) => {
      if (!isNodeExists(error)) throw error;
    });
  }
}

export interface OriginalNode {
  host: string;
  ip: string;
  port: number;
  /** the metadata map as the original serialized it: json.dumps(metadata, sort_keys=True) */
  metadataJson?: string;
  /** the peer, or null as the original wrote when it had none */
  peer?: { ip: string; name: string; port: number } | null;
}

/**
 * The bytes the original Python Lighthouse wrote for a node:
 * json.dumps({...}, sort_keys=True) with metadata and peer as JSON strings.
 * Built by hand (not with our encoder) so the tests compare against the
 * original's format, not against ourselves. ASCII input only.
 */
export function originalNodeBytes(node: OriginalNode): Buffer {
  const str = (value: string): string => JSON.stringify(value);
  const peer = node.peer === undefined || node.peer === null ? 'null' : str(`{"ip": ${str(node.peer.ip)}, "name": ${str(node.peer.name)}, "port": ${node.peer.port}}`);
  const text = `{"host": ${str(node.host)}, "ip": ${str(node.ip)}, "metadata": ${str(node.metadataJson ?? '{}')}, "peer": ${peer}, "port": ${node.port}}`;
  return Buffer.from(text, 'utf8');
}

/**
 * Writes a node as the original reporter did: folders persistent, the node
 * ephemeral (owned by `client`'s session) with raw bytes. Returns its path.
 */
export async function writeOriginalNode(client: ZkClient, base: string, service: string, node: OriginalNode | Buffer, name?: string): Promise<string> {
  const data = Buffer.isBuffer(node) ? node : originalNodeBytes(node);
  const nodeName = name ?? (Buffer.isBuffer(node) ? undefined : `${node.host}:${node.port}`);
  if (!nodeName) throw new Error('a name is needed for raw bytes');
  await mkdirs(client, `${base}/${service}`);
  const path = `${base}/${service}/${nodeName}`;
  await client.create(path, data, OPEN_ACL, true);
  return path;
}

/**
 * A TCP relay between a client and one server, so a test can take the
 * network away from a client while the server keeps running (and so expires
 * the session on its own schedule, deterministically).
 */
export class TcpRelay {
  private mode: 'pass' | 'refuse' = 'pass';
  /** connections accepted so far, refused ones included (a client's connection attempts) */
  accepted = 0;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** while set, what the server sends is kept here instead of reaching the client (see hold) */
  private held: Buffer[] | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<TcpRelay> {
    const [port] = await freePorts(1);
    const server = createServer();
    const relay = new TcpRelay(server, port!, targetPort);
    server.on('connection', (client: Socket) => relay.accept(client, relay.targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return relay;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, targetPort: number): void {
    this.accepted += 1;
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connectTcp(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (this.held) this.held.push(chunk);
      else client.write(chunk);
    });
  }

  /**
   * Keeps what the server sends from the client until release(), which
   * hands it over in one write: a reply and the watch notifications that
   * followed it then reach the client in one socket read, as they do on a
   * busy server. (One relayed connection at a time.)
   */
  hold(): void {
    this.held ??= [];
  }

  /** Hands over what was held, in one write; `keepHolding` holds what comes next again. */
  release(keepHolding = false): void {
    const held = this.held;
    this.held = keepHolding ? [] : undefined;
    if (!held || held.length === 0) return;
    for (const pair of this.pairs) pair.client.write(Buffer.concat(held));
  }

  /** The xids of the frames held so far: a reply's own, -1 a watch notification, -2 a ping's reply. */
  heldXids(): number[] {
    const data = Buffer.concat(this.held ?? []);
    const xids: number[] = [];
    for (let at = 0; at + 8 <= data.length; at += 4 + data.readInt32BE(at)) xids.push(data.readInt32BE(at + 4));
    return xids;
  }

  /** Drops every relayed connection and refuses new ones until restore(). */
  cut(): void {
    this.mode = 'refuse';
    this.held = undefined;
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.mode = 'pass';
  }

  /** New connections go to `targetPort` (another server behind the same address); existing ones are left alone. */
  retarget(targetPort: number): void {
    this.targetPort = targetPort;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Log lines a test can inspect (JSON, one per line), at warn and above unless told otherwise. */
export function captureLogger(level: LevelWithSilent = 'warn'): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(line) });
  return { logger, lines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** A discovery built through the plugin, exactly as the daemons build it (schema defaults included). */
export function createDiscovery(config: Record<string, unknown>, logger: Logger = silentLogger(), name = 'zk'): ZookeeperDiscovery {
  const parsed = zookeeperDiscovery.schema.parse(config);
  const discovery = zookeeperDiscovery.create(parsed, { logger, name, file: `/etc/lighthouse/discovery/${name}.yaml`, now: Date.now });
  if (!(discovery instanceof ZookeeperDiscovery)) throw new Error('unexpected discovery type');
  return discovery;
}

/** Records every member set a watch reports. */
export class MemberLog {
  readonly sets: MemberSet[] = [];
  readonly times: number[] = [];

  readonly onMembers = (set: MemberSet): void => {
    this.sets.push(set);
    this.times.push(performance.now());
  };

  get latest(): MemberSet | undefined {
    return this.sets.at(-1);
  }

  /** Sorted `host:port` keys of the latest set, or undefined before the first one. */
  keys(): string[] | undefined {
    return this.latest?.members.map((node) => `${node.host}:${node.port}`).sort();
  }

  async waitFor(predicate: (set: MemberSet) => boolean, what: string, timeoutMs = 10_000): Promise<MemberSet> {
    return waitFor(() => {
      const set = this.latest;
      return set && predicate(set) ? set : undefined;
    }, what, timeoutMs, 2);
  }

  async waitForKeys(keys: string[], timeoutMs = 10_000): Promise<MemberSet> {
    const want = [...keys].sort().join(',');
    return this.waitFor((set) => set.members.map((node) => `${node.host}:${node.port}`).sort().join(',') === want, `members [${want}] (last: [${this.keys()?.join(',') ?? 'none'}])`, timeoutMs);
  }
}

/** The requests a discovery's watches sent, as watchRequests() counts them. */
export interface WatchRequests {
  /** every request since the last reset, as `op path`, in order */
  readonly log: string[];
  /** requests per operation since the last reset */
  ops: Record<string, number>;
  /** per operation: sent and not answered yet, and the most at once since the last reset */
  inFlight: Record<string, number>;
  maxInFlight: Record<string, number>;
  total(): number;
  reset(): void;
}

const WATCH_REQUESTS = new Set(['getChildren', 'getData', 'exists', 'addWatch']);

type RequestOverride = Partial<Record<string, (client: ZkClient, ...args: unknown[]) => unknown>>;

/**
 * A watchRequests override playing a ZooKeeper older than 3.6, which cannot
 * be run here (Debian ships 3.8): addWatch answered as such a server does,
 * UNIMPLEMENTED and the connection closed; everything else is the real server.
 */
export const OLDER_SERVER: RequestOverride = {
  addWatch: (client, path) => {
    client.dropConnection();
    return Promise.reject(new ZookeeperError('addWatch', String(path), -6, 'UNIMPLEMENTED'));
  },
};

/**
 * Observes the requests a discovery's watches send (getChildren, getData,
 * exists, addWatch): every watch takes `session.current()` per operation, so
 * the session's client is wrapped there. `override` replaces an operation
 * (to play an older server); it is counted all the same.
 */
export function watchRequests(d: ZookeeperDiscovery, override: RequestOverride = {}): WatchRequests {
  const requests: WatchRequests = {
    log: [],
    ops: {},
    inFlight: {},
    maxInFlight: {},
    total: () => Object.values(requests.ops).reduce((sum, n) => sum + n, 0),
    reset() {
      requests.log.length = 0;
      requests.ops = {};
      requests.maxInFlight = { ...requests.inFlight };
    },
  };
  const session = d.session;
  const original = session.current.bind(session);
  session.current = () => {
    const client = original();
    return new Proxy(client, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        if (typeof property !== 'string' || !WATCH_REQUESTS.has(property)) return (value as (...a: unknown[]) => unknown).bind(target);
        return async (...args: unknown[]) => {
          requests.log.push(`${property} ${String(args[0])}`);
          requests.ops[property] = (requests.ops[property] ?? 0) + 1;
          const inFlight = (requests.inFlight[property] ?? 0) + 1;
          requests.inFlight[property] = inFlight;
          requests.maxInFlight[property] = Math.max(requests.maxInFlight[property] ?? 0, inFlight);
          try {
            const replacement = override[property];
            return await (replacement ? replacement(target, ...args) : (value as (...a: unknown[]) => unknown).apply(target, args));
          } finally {
            requests.inFlight[property] = (requests.inFlight[property] ?? 1) - 1;
          }
        };
      },
    });
  };
  return requests;
}

export interface ZookeeperFixture {
  zk: ZookeeperCluster;
  /** the tests' own client, straight to the server (a test may replace it) */
  admin: ZkClient;
  /** closed after the tests */
  discoveries: ZookeeperDiscovery[];
  /** closed after the tests */
  relays: TcpRelay[];
}

/**
 * One ZooKeeper server for the tests of a file or describe block: started
 * before them with a client of the tests' own; afterwards every discovery
 * and relay the tests registered is closed, then the client and the server.
 */
export function zookeeperFixture(): ZookeeperFixture {
  const fixture = { discoveries: [], relays: [] } as unknown as ZookeeperFixture;
  before(async () => {
    fixture.zk = await ZookeeperCluster.start();
    fixture.admin = await connectClient(fixture.zk.connectString);
  });
  after(async () => {
    for (const d of fixture.discoveries) await d.close().catch(() => undefined);
    for (const relay of fixture.relays) await relay.close();
    await fixture.admin?.close();
    await fixture.zk?.stop();
  });
  return fixture;
}

/** The id of the ensemble server `d` is connected to, while connected. */
export function serverOf(zk: ZookeeperCluster, d: ZookeeperDiscovery): number | undefined {
  const server = d.state === 'connected' ? d.session.current().connection()?.server : undefined;
  return server === undefined ? undefined : zk.serverByPort(Number(server.slice(server.lastIndexOf(':') + 1)))?.id;
}

/**
 * Waits for `d`'s first session and moves its connection off the leader
 * (freezing the leader also costs the ensemble an election, which the
 * liveness tests do not test); returns the follower it is on.
 */
export async function onFollower(zk: ZookeeperCluster, d: ZookeeperDiscovery): Promise<number> {
  await waitFor(() => serverOf(zk, d), 'the first session');
  const leader = await zk.leader();
  while (serverOf(zk, d) === leader) {
    const connection = d.session.current().connection()?.id;
    d.session.current().dropConnection();
    await waitFor(() => d.session.current().connection()?.id !== connection && serverOf(zk, d) !== undefined, 'a reconnect');
  }
  return serverOf(zk, d)!;
}
