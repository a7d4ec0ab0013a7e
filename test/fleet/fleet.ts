import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { adminSocket, parseServersState, type Row } from '../../src/balancer/haproxy/runtime-api.js';
import { ConnectionState, ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { isNoNode } from '../../src/discovery/zookeeper/zk-errors.js';
import { fourLetterWord } from '../../src/discovery/zookeeper/four-letter-word.js';
import { Etcd3 } from 'etcd3';
import { waitFor } from '../support/wait-for.js';
import { HostProcess } from './host-process.js';
import { FleetNetwork, killNamespaceProcesses, type FleetHost } from './netns.js';

/**
 * A fleet on one machine (see docs/fleet-lab.md): three ZooKeeper hosts forming
 * one ensemble and app hosts that each run what a machine of a real fleet
 * runs: a `web` instance (a tiny HAProxy answering with its host name), the
 * reporter registering it (no `advertise`: the reporter finds its host name
 * and address by itself), the writer driving the host's own HAProxy, and the
 * application, a load loop through that HAProxy. Every host has its own
 * network namespace, address and host name; the test process reaches them
 * over the bridge, and their HAProxy admin sockets through the file system.
 *
 * Clusters: `web` (round robin over every host's instance) and `session`
 * (the same instances; its backend shares a stick table through a `peers`
 * section, so entries learned on one host show on the others).
 */

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO, 'dist/cli/main.js');
const LOAD_LOOP = fileURLToPath(new URL('./load-loop.mjs', import.meta.url));
const ZOOKEEPER_CLASSPATH = '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar';
const JAVA_OPTS = ['-Xmx96m', '-Xss512k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto'];

export const WEB_PORT = 8080;
export const WEB_FRONTEND_PORT = 7000;
export const SESSION_FRONTEND_PORT = 7001;
export const PEER_PORT = 1024;
const ZK_CLIENT_PORT = 2181;
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
const BASE_PATH = '/lighthouse/services';

export interface FleetOptions {
  /** the discovery backend the ensemble runs (default zookeeper) */
  discovery?: 'zookeeper' | 'etcd';
  appHosts?: number;
  /** ZooKeeper session timeout of every daemon, ms (etcd: the lease TTL, rounded up to seconds) */
  sessionTimeoutMs?: number;
  /** domain of the hosts' FQDNs in their /etc/hosts */
  domain?: string;
  /** load loops per host (half on keep-alive) and the pause between one loop's requests */
  load?: { concurrency: number; pauseMs: number };
  /** progress lines (the demo prints them; the tests keep them for diagnostics) */
  log?: (line: string) => void;
}

export interface EnsembleHost extends FleetHost {
  id: number;
  dir: string;
  configFile: string;
  process: HostProcess | undefined;
}

export interface LoadFailure {
  at: number;
  started: number;
  error: string;
}

export interface LoadStats {
  at: number;
  sent: number;
  ok: number;
  failed: number;
  reached: Record<string, number>;
  /** the slowest request completed since the previous stats line, ms */
  maxMs: number;
}

export interface AppHost extends FleetHost {
  dir: string;
  /** the host's Lighthouse config dir (reporter and writer share it, as on a real machine) */
  etc: string;
  runDir: string;
  web: HostProcess | undefined;
  reporter: HostProcess | undefined;
  writer: HostProcess | undefined;
  load: HostProcess | undefined;
  failures: LoadFailure[];
  stats: LoadStats[];
}

export interface ServerState {
  name: string;
  addr: string;
  port: number;
  /** srv_admin_state: 0 = ready; bits 0x01/0x02/0x20 are forced/inherited/resolver maintenance, 0x08 drain */
  adminState: number;
}

export class Fleet {
  /** the coordination hosts: ZooKeeper servers or etcd members, one ensemble */
  readonly ensemble: EnsembleHost[] = [];
  readonly apps: AppHost[] = [];
  private admin: ZkClient | undefined;
  private etcdClient: Etcd3 | undefined;
  readonly log: (line: string) => void;
  private stopped = false;

  private constructor(
    readonly network: FleetNetwork,
    readonly dir: string,
    readonly options: Required<Omit<FleetOptions, 'log'>>,
    log: (line: string) => void,
  ) {
    this.log = log;
  }

  /** Builds the network, starts the ensemble and every app host, and waits until every host routes to every instance. */
  static async start(options: FleetOptions = {}): Promise<Fleet> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const settings = {
      discovery: options.discovery ?? 'zookeeper',
      appHosts: options.appHosts ?? 4,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 4000,
      domain: options.domain ?? 'fleet.test',
      load: options.load ?? { concurrency: 2, pauseMs: 60 },
    };
    const names = [
      ...[1, 2, 3].map((id) => ({ name: `${settings.discovery === 'etcd' ? 'etcd' : 'zk'}-${id}`, octet: id })),
      ...Array.from({ length: settings.appHosts }, (_, index) => ({ name: `app-${index + 1}`, octet: 11 + index })),
    ];
    const network = await FleetNetwork.create(names, settings.domain);
    const dir = network.tempPath();
    const fleet = new Fleet(network, dir, settings, options.log ?? (() => undefined));
    try {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await fleet.boot();
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  private async boot(): Promise<void> {
    const started = performance.now();
    for (const [index, host] of this.network.hosts.filter((candidate) => !candidate.name.startsWith('app-')).entries()) {
      const memberDir = join(this.dir, host.name);
      this.ensemble.push({ ...host, id: index + 1, dir: memberDir, configFile: join(memberDir, 'zoo.cfg'), process: undefined });
    }
    await Promise.all(this.ensemble.map((member) => mkdir(member.dir, { recursive: true })));
    if (!this.etcd) await Promise.all(this.ensemble.map((zk) => this.writeZkConfig(zk)));
    for (const zk of this.ensemble) this.startMember(zk);
    await Promise.all(this.ensemble.map((zk) => this.waitServing(zk)));
    this.log(`ensemble serving on ${this.ensemble.map((zk) => `${zk.name} ${zk.ip}`).join(', ')} (${Math.round(performance.now() - started)} ms)`);
    await waitFor(async () => (await this.registrations('web')) !== undefined, 'the test client to connect to the ensemble', 30_000, 100);

    for (const host of this.network.hosts.filter((candidate) => candidate.name.startsWith('app-'))) {
      const appDir = join(this.dir, host.name);
      const app: AppHost = { ...host, dir: appDir, etc: join(appDir, 'etc'), runDir: join(appDir, 'run'), web: undefined, reporter: undefined, writer: undefined, load: undefined, failures: [], stats: [] };
      this.apps.push(app);
      await this.writeAppConfig(app);
    }
    for (const app of this.apps) {
      this.startWeb(app);
      app.reporter = HostProcess.start(app, 'reporter', process.execPath, [CLI, 'reporter', app.etc], { logFile: join(app.dir, 'reporter.log') });
      app.writer = HostProcess.start(app, 'writer', process.execPath, [CLI, 'writer', app.etc], { logFile: join(app.dir, 'writer.log') });
    }
    await this.waitConverged(this.apps, this.apps, 90_000);
    this.log(`${this.apps.length} app hosts converged (${Math.round(performance.now() - started)} ms after the start)`);
    for (const app of this.apps) this.startLoad(app);
    await waitFor(() => this.apps.every((app) => (app.stats.at(-1)?.ok ?? 0) > 0), 'every load loop to get an answer', 30_000);
  }

  private get etcd(): boolean {
    return this.options.discovery === 'etcd';
  }

  get connectString(): string {
    return this.ensemble.map((zk) => `${zk.ip}:${ZK_CLIENT_PORT}`).join(',');
  }

  app(name: string): AppHost {
    const app = this.apps.find((candidate) => candidate.name === name);
    if (!app) throw new Error(`no app host ${name}`);
    return app;
  }

  // ------------------------------------------------------------------ ZooKeeper

  private async writeZkConfig(zk: EnsembleHost): Promise<void> {
    await mkdir(join(zk.dir, 'data'), { recursive: true });
    await writeFile(join(zk.dir, 'data', 'myid'), `${zk.id}\n`);
    const lines = [
      // A longer tick than the single-machine tests use: seven hosts' processes share two cores here.
      'tickTime=250',
      `dataDir=${join(zk.dir, 'data')}`,
      `clientPort=${ZK_CLIENT_PORT}`,
      'minSessionTimeout=500',
      'maxSessionTimeout=60000',
      'initLimit=20',
      'syncLimit=8',
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      'maxClientCnxns=0',
      'forceSync=no',
      ...this.ensemble.map((other) => `server.${other.id}=${other.ip}:2888:3888`),
    ];
    await writeFile(zk.configFile, `${lines.join('\n')}\n`);
  }

  startMember(zk: EnsembleHost): void {
    if (this.etcd) {
      const peer = (member: EnsembleHost): string => `http://${member.ip}:${ETCD_PEER_PORT}`;
      zk.process = HostProcess.start(
        zk,
        'etcd',
        'etcd',
        [
          '--name', zk.name,
          '--data-dir', join(zk.dir, 'data'),
          '--listen-client-urls', `http://${zk.ip}:${ETCD_CLIENT_PORT}`,
          '--advertise-client-urls', `http://${zk.ip}:${ETCD_CLIENT_PORT}`,
          '--listen-peer-urls', peer(zk),
          '--initial-advertise-peer-urls', peer(zk),
          '--initial-cluster', this.ensemble.map((member) => `${member.name}=${peer(member)}`).join(','),
          '--initial-cluster-token', this.network.prefix,
          '--initial-cluster-state', 'new',
          // Looser than etcd's defaults: seven hosts' processes share two cores here.
          '--heartbeat-interval', '100',
          '--election-timeout', '1000',
        ],
        { logFile: join(zk.dir, 'etcd.log') },
      );
      return;
    }
    zk.process = HostProcess.start(zk, 'zookeeper', 'java', [...JAVA_OPTS, '-cp', ZOOKEEPER_CLASSPATH, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', zk.configFile], {
      logFile: join(zk.dir, 'server.log'),
    });
  }

  async stopMember(zk: EnsembleHost): Promise<void> {
    await zk.process?.stop();
    zk.process = undefined;
  }

  /** A four-letter word to a ZooKeeper host, over the bridge. */
  fourLetter(zk: EnsembleHost, word: string, timeoutMs = 2_000): Promise<string> {
    return fourLetterWord(ZK_CLIENT_PORT, word, timeoutMs, zk.ip);
  }


  /** `leader`, `follower`, or undefined while the server does not serve. */
  async memberMode(zk: EnsembleHost): Promise<string | undefined> {
    if (this.etcd) {
      const status = await etcdStatus(zk.ip).catch(() => undefined);
      if (!status?.leader || status.leader === '0') return undefined;
      return status.header?.member_id === status.leader ? 'leader' : 'follower';
    }
    const text = await this.fourLetter(zk, 'srvr').catch(() => '');
    return /Mode: (\w+)/.exec(text)?.[1];
  }

  waitServing(zk: EnsembleHost, timeoutMs = 60_000): Promise<string> {
    return waitFor(async () => {
      const mode = await this.memberMode(zk);
      return mode === 'leader' || mode === 'follower' ? mode : undefined;
    }, `${this.options.discovery} on ${zk.name} to serve`, timeoutMs, 100);
  }

  async leader(among: readonly EnsembleHost[] = this.ensemble): Promise<EnsembleHost | undefined> {
    for (const zk of among) if ((await this.memberMode(zk)) === 'leader') return zk;
    return undefined;
  }

  /**
   * Runs `operation` with the test's own client. It has no liveness probe, and
   * a cut-off server drops packets instead of refusing them, so a failed or
   * timed-out call drops the connection (the client moves to another server,
   * same session); an expired session gets a new client.
   */
  private async withAdmin<T>(operation: (client: ZkClient) => Promise<T>): Promise<T> {
    const state = this.admin?.connectionState();
    if (!this.admin || state === ConnectionState.SESSION_EXPIRED || state === ConnectionState.CLOSED) {
      await this.admin?.close().catch(() => undefined);
    this.etcdClient?.close();
      this.admin = new ZkClient({ connectString: this.connectString, sessionTimeoutMs: 10_000, operationTimeoutMs: 3_000, spinDelayMs: 100, maxReconnectWindowMs: 100 });
      this.admin.connect();
    }
    const client = this.admin;
    try {
      return await operation(client);
    } catch (error) {
      if (!isNoNode(error)) client.dropConnection();
      throw error;
    }
  }

  /** An etcd call with the test's own client, bounded; a failed call gets a new client (the next one may pick a reachable member). */
  private async withEtcd<T>(operation: (client: Etcd3) => Promise<T>): Promise<T> {
    this.etcdClient ??= new Etcd3({ hosts: this.ensemble.map((member) => `http://${member.ip}:${ETCD_CLIENT_PORT}`), dialTimeout: 2_000 });
    const client = this.etcdClient;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([operation(client), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('etcd call timed out')), 3_000)))]);
    } catch (error) {
      if (this.etcdClient === client) this.etcdClient = undefined;
      client.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Znode names (etcd: key names) under a service's folder, sorted, read by the test's own client. */
  async registrations(service: string): Promise<string[]> {
    if (this.etcd) {
      const keys = await this.withEtcd((client) => client.getAll().prefix(`${BASE_PATH}/${service}/`).keys());
      return keys.map((key) => key.slice(`${BASE_PATH}/${service}/`.length)).sort();
    }
    try {
      return await this.withAdmin(async (client) => (await client.getChildren(`${BASE_PATH}/${service}`)).children.sort());
    } catch (error) {
      if (isNoNode(error)) return [];
      throw error;
    }
  }

  /** The node a reporter registered, decoded (the JSON the original Lighthouse wrote). */
  async registration(service: string, name: string): Promise<{ host: string; ip: string; port: number; peer: string | null; owner: string }> {
    if (this.etcd) {
      const response = await this.withEtcd((client) => client.get(`${BASE_PATH}/${service}/${name}`).exec());
      const kv = response.kvs[0];
      if (!kv) throw new Error(`no key ${BASE_PATH}/${service}/${name}`);
      const node = JSON.parse(kv.value.toString('utf8')) as { host: string; ip: string; port: number; peer: string | null };
      return { ...node, owner: `lease ${kv.lease}` };
    }
    const { data, stat } = await this.withAdmin((client) => client.getData(`${BASE_PATH}/${service}/${name}`));
    const node = JSON.parse(data.toString('utf8')) as { host: string; ip: string; port: number; peer: string | null };
    return { ...node, owner: stat.ephemeralOwner.toString('hex') };
  }

  async deleteRegistration(service: string, name: string): Promise<void> {
    if (this.etcd) {
      await this.withEtcd((client) => client.delete().key(`${BASE_PATH}/${service}/${name}`).exec());
      return;
    }
    await this.withAdmin((client) => client.remove(`${BASE_PATH}/${service}/${name}`, -1));
  }

  // ------------------------------------------------------------------ app hosts

  /** What the reporter of `app` registers: its host name (the FQDN from its /etc/hosts) and port. */
  memberName(app: FleetHost): string {
    return `${this.fqdn(app)}:${WEB_PORT}`;
  }

  fqdn(app: FleetHost): string {
    return `${app.name}.${this.options.domain}`;
  }

  private async writeAppConfig(app: AppHost): Promise<void> {
    const files: Record<string, string> = {
      'discovery/zk.yaml': this.etcd
        ? [
            'plugin: etcd',
            `endpoints: [${this.ensemble.map((member) => `"http://${member.ip}:${ETCD_CLIENT_PORT}"`).join(', ')}]`,
            `prefix: ${BASE_PATH}`,
            `lease_ttl: ${Math.ceil(this.options.sessionTimeoutMs / 1000)}`,
            'operation_timeout_ms: 2000',
          ].join('\n')
        : [
            'plugin: zookeeper',
            `hosts: [${this.ensemble.map((zk) => `"${zk.ip}:${ZK_CLIENT_PORT}"`).join(', ')}]`,
            `path: ${BASE_PATH}`,
            `session_timeout_ms: ${this.options.sessionTimeoutMs}`,
            'operation_timeout_ms: 2000',
          ].join('\n'),
      'balancers/haproxy.yaml': [
        `config_file: ${app.runDir}/haproxy.cfg`,
        `socket_file: ${app.runDir}/haproxy.sock`,
        `pid_file: ${app.runDir}/haproxy.pid`,
        'bind_address: 127.0.0.1',
        'reload_min_interval_ms: 0',
        'global:',
        '  - maxconn 2000',
        'defaults:',
        '  - mode http',
        // A cut-off host drops packets: a connection attempt to it times out (1 s) and is
        // retried, on another server every time (redispatch 1), instead of failing the request.
        '  - timeout connect 1s',
        '  - timeout client 20s',
        '  - timeout server 20s',
        '  - retries 3',
        '  - option redispatch 1',
      ].join('\n'),
      'clusters/web.yaml': ['discovery: zk', 'haproxy:', `  port: ${WEB_FRONTEND_PORT}`, '  backend:', '    - balance roundrobin'].join('\n'),
      'clusters/session.yaml': [
        'discovery: zk',
        'haproxy:',
        `  port: ${SESSION_FRONTEND_PORT}`,
        '  backend:',
        '    - stick-table type string len 64 size 1k expire 30m peers session',
        '    - stick on req.hdr(x-user)',
      ].join('\n'),
      'services/web.yaml': serviceYaml(0.5),
      'services/session.yaml': serviceYaml(1),
    };
    for (const [relative, text] of Object.entries(files)) {
      const path = join(app.etc, relative);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, `${text}\n`);
    }
    await mkdir(app.runDir, { recursive: true });
    // The web instance: answers every request with its host name (health checks too).
    await writeFile(
      join(app.dir, 'web.cfg'),
      [
        'global',
        '  maxconn 500',
        'defaults',
        '  mode http',
        '  timeout connect 2s',
        '  timeout client 20s',
        '  timeout server 20s',
        'frontend web',
        `  bind :${WEB_PORT}`,
        `  http-request return status 200 content-type text/plain string "${app.name}"`,
        '',
      ].join('\n'),
    );
  }

  startWeb(app: AppHost): void {
    app.web = HostProcess.start(app, 'web', 'haproxy', ['-db', '-f', join(app.dir, 'web.cfg')], { logFile: join(app.dir, 'web.log') });
  }

  /** Stops the web instance gracefully (SIGUSR1: stop listening, finish what is in flight). */
  async stopWeb(app: AppHost): Promise<void> {
    await app.web?.stop('SIGUSR1');
    app.web = undefined;
  }

  private startLoad(app: AppHost): void {
    const { concurrency, pauseMs } = this.options.load;
    app.load = HostProcess.start(app, 'load', process.execPath, [LOAD_LOOP, '--port', String(WEB_FRONTEND_PORT), '--concurrency', String(concurrency), '--pause', String(pauseMs), '--max-seconds', '900'], {
      onLine: (line) => {
        let parsed: { type?: string } & Partial<LoadStats & LoadFailure>;
        try {
          parsed = JSON.parse(line) as typeof parsed;
        } catch {
          return;
        }
        if (parsed.type === 'fail') app.failures.push(parsed as LoadFailure);
        else if (parsed.type === 'stats') app.stats.push(parsed as LoadStats);
        if (app.stats.length > 4000) app.stats.splice(0, 2000);
      },
    });
  }

  /** One request through `app`'s `session` frontend with header x-user, from inside the host. */
  async sessionRequest(app: AppHost, user: string): Promise<string> {
    const { stdout } = await execFileAsync('ip', ['netns', 'exec', app.ns, process.execPath, LOAD_LOOP, '--once', '--port', String(SESSION_FRONTEND_PORT), '--header', `x-user:${user}`], { timeout: 20_000 }).catch(
      (error: { stdout?: string; message: string }) => ({ stdout: error.stdout ?? error.message }),
    );
    const answer = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { ok?: boolean; body?: string; error?: string };
    if (!answer.ok) throw new Error(`request through ${app.name}'s session frontend failed: ${answer.error ?? stdout}`);
    return answer.body ?? '';
  }

  /** `lighthouse drain|undrain ETC web` on a host (it only writes the host's drain file, so it runs from here). */
  async operator(app: AppHost, command: 'drain' | 'undrain', service = 'web'): Promise<string> {
    const { stdout } = await execFileAsync(process.execPath, [CLI, command, app.etc, service, ...(command === 'drain' ? ['--reason', 'rolling deploy'] : [])], { timeout: 30_000 });
    return stdout.trim();
  }

  // ------------------------------------------------------------------ HAProxy runtime API

  async adminCommand(app: AppHost, command: string): Promise<string> {
    const cli = adminSocket(join(app.runDir, 'haproxy.sock'), { timeoutMs: 3_000 });
    try {
      return await cli.command(command);
    } finally {
      cli.close();
    }
  }

  async servers(app: AppHost, backend = 'web'): Promise<ServerState[]> {
    const rows: Row[] = parseServersState(await this.adminCommand(app, `show servers state ${backend}`));
    return rows
      .map((row) => ({ name: row.srv_name ?? '', addr: row.srv_addr ?? '', port: Number(row.srv_port ?? 0), adminState: Number(row.srv_admin_state ?? 0) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Servers `app`'s HAProxy routes to (not in maintenance), `name@addr:port`, sorted. */
  async routed(app: AppHost, backend = 'web'): Promise<string[]> {
    return (await this.servers(app, backend)).filter((server) => (server.adminState & 0x23) === 0).map((server) => `${server.name}@${server.addr}:${server.port}`);
  }

  /** `name@ip:port` of the instances of `members`, as every HAProxy should route them. */
  expectedRouted(members: readonly FleetHost[]): string[] {
    return members.map((app) => `${this.memberName(app)}@${app.ip}:${WEB_PORT}`).sort();
  }

  /**
   * Waits until ZooKeeper holds exactly the `members`' registrations of both
   * services and every host in `observers` routes to exactly those instances
   * in both clusters, at the addresses their reporters advertised.
   */
  async waitConverged(observers: readonly AppHost[], members: readonly FleetHost[], timeoutMs = 60_000): Promise<void> {
    const names = members.map((app) => this.memberName(app)).sort().join(',');
    const routed = this.expectedRouted(members).join(',');
    let last = '';
    await waitFor(
      async () => {
        const [web, session] = await Promise.all([this.registrations('web'), this.registrations('session')]);
        last = `registered web [${web.join(',')}] session [${session.join(',')}]`;
        if (web.join(',') !== names || session.join(',') !== names) return false;
        for (const app of observers) {
          for (const backend of ['web', 'session']) {
            const servers = await this.routed(app, backend).catch((error: Error) => [`(${error.message})`]);
            if (servers.join(',') !== routed) {
              last = `${app.name} routes ${backend} to [${servers.join(',')}]`;
              return false;
            }
          }
        }
        return true;
      },
      `every host of [${observers.map((app) => app.name).join(',')}] to route to exactly [${routed}]`,
      timeoutMs,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last: ${last}`);
    });
  }

  // ------------------------------------------------------------------ load

  /** Failed requests of `apps`' load loops between two Date.now() marks (by the time they failed). */
  failuresBetween(apps: readonly AppHost[], from: number, to: number = Date.now()): (LoadFailure & { host: string })[] {
    return apps.flatMap((app) => app.failures.filter((failure) => failure.at >= from && failure.at <= to).map((failure) => ({ ...failure, host: app.name })));
  }

  /** Requests `app`'s loop completed between two marks (from its periodic counters). */
  sentBetween(app: AppHost, from: number, to: number): number {
    const before = [...app.stats].reverse().find((stats) => stats.at <= from);
    const after = app.stats.find((stats) => stats.at >= to) ?? app.stats.at(-1);
    return (after?.ok ?? 0) + (after?.failed ?? 0) - ((before?.ok ?? 0) + (before?.failed ?? 0));
  }

  /** Which instances answered `app`'s loop between two marks, with counts. */
  reachedBetween(app: AppHost, from: number, to: number): Record<string, number> {
    const before = [...app.stats].reverse().find((stats) => stats.at <= from)?.reached ?? {};
    const after = (app.stats.find((stats) => stats.at >= to) ?? app.stats.at(-1))?.reached ?? {};
    const delta: Record<string, number> = {};
    for (const [id, count] of Object.entries(after)) {
      const diff = count - (before[id] ?? 0);
      if (diff > 0) delta[id] = diff;
    }
    return delta;
  }

  /** The slowest request of `apps`' loops between two marks, ms. */
  slowestBetween(apps: readonly AppHost[], from: number, to: number): number {
    return Math.max(0, ...apps.flatMap((app) => app.stats.filter((stats) => stats.at > from && stats.at <= to + 300).map((stats) => stats.maxMs ?? 0)));
  }

  /** Waits until every loop reported counters after `mark`, so requests answered before it are counted. */
  async settleLoad(mark: number): Promise<void> {
    await waitFor(() => this.apps.every((app) => !app.load?.alive || (app.stats.at(-1)?.at ?? 0) > mark + 300), 'the load loops to report', 10_000, 50);
  }

  // ------------------------------------------------------------------ the end

  /** Stops everything by PID, then removes the namespaces, veth ends, bridge and temp dir. Safe to call twice. */
  async stop(options: { keepFiles?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.apps.map((app) => app.load?.stop('SIGTERM', 20_000)));
    await Promise.all(this.apps.flatMap((app) => [app.reporter?.stop(), app.writer?.stop(), app.web?.stop()]));
    // What is left in the app namespaces is the writers' HAProxy (left serving on purpose when a writer stops).
    for (const app of this.apps) killNamespaceProcesses(app.ns, 'SIGTERM');
    await this.admin?.close().catch(() => undefined);
    await Promise.all(this.ensemble.map((zk) => zk.process?.stop()));
    this.network.removeSync();
    if (!options.keepFiles) await rm(this.dir, { recursive: true, force: true });
  }

  async daemonLog(app: AppHost, daemon: 'writer' | 'reporter'): Promise<string> {
    return readFile(join(app.dir, `${daemon}.log`), 'utf8');
  }

  /** Log tails of a host's daemons, for a failing assertion. */
  async tails(app: AppHost, lines = 15): Promise<string> {
    const parts: string[] = [];
    for (const name of ['writer.log', 'reporter.log']) {
      const text = await readFile(join(app.dir, name), 'utf8').catch(() => '');
      parts.push(`--- ${app.name} ${name} ---\n${text.trim().split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }
}

/** etcd's maintenance status through its JSON gateway: which member this is and which one leads. */
function etcdStatus(ip: string): Promise<{ header?: { member_id?: string }; leader?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port: ETCD_CLIENT_PORT, method: 'POST', path: '/v3/maintenance/status', timeout: 2_000, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as { header?: { member_id?: string }; leader?: string });
        } catch (error) {
          reject(error as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no status from etcd on ${ip}`)));
    req.on('error', reject);
    req.end('{}');
  });
}

function serviceYaml(interval: number): string {
  return ['discovery: zk', `port: ${WEB_PORT}`, 'checks:', `  interval: ${interval}`, '  http:', '    uri: /health', '    rise: 1', '    fall: 2'].join('\n');
}
