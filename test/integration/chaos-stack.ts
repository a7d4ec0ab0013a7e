import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { adminSocket, parseServersState } from '../../src/balancer/haproxy/runtime-api.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { isNoNode } from '../../src/discovery/zookeeper/zk-errors.js';
import {
  clusterYaml,
  DaemonProcess,
  discoveryYaml,
  haproxyYaml,
  killHaproxy,
  serviceYaml,
  startChaosBackend,
  sweepOnExit,
  writeAtomic,
  type ChaosBackend,
  type ChaosConfigOptions,
} from '../support/chaos.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient, ZookeeperCluster } from '../support/zookeeper.js';

/**
 * One "machine" for the chaos tests: real ZooKeeper (standalone or three
 * servers), HTTP backends, one writer and any number of reporters, each
 * daemon a child process with its own config directory, as on a fleet.
 * Cluster and service are both called `web`.
 */

export interface StackOptions {
  zkServers?: 1 | 3;
  sessionTimeoutMs?: number;
  /** backends per reporter, e.g. [1, 2]: reporter "a" checks one backend, reporter "b" two */
  reporters?: number[];
  writerAuth?: { user: string; password: string };
  reporterAuth?: { user: string; password: string };
  /** consecutive failed checks before a port is reported down (default 2) */
  checkFall?: number;
  /** extra lines for the cluster file (after `haproxy: port`) */
  clusterExtra?: string[];
}

export interface ReporterHandle {
  name: string;
  dir: string;
  host: string;
  backends: ChaosBackend[];
  process: DaemonProcess;
}

export class ChaosStack {
  readonly basePath = '/lighthouse/services';
  reporters: ReporterHandle[] = [];
  writer!: DaemonProcess;
  admin!: ZkClient;
  webPort = 0;
  private readonly extraBackends: ChaosBackend[] = [];

  private constructor(
    readonly zk: ZookeeperCluster,
    readonly dir: TempDir,
    readonly options: StackOptions,
  ) {}

  static async start(options: StackOptions = {}): Promise<ChaosStack> {
    const zk = await ZookeeperCluster.start({ servers: options.zkServers ?? 1 });
    const dir = await tempDir('lighthouse-chaos-');
    sweepOnExit(dir.path);
    const stack = new ChaosStack(zk, dir, options);
    try {
      await stack.boot();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  get writerDir(): string {
    return join(this.dir.path, 'writer');
  }

  get haproxyConfigFile(): string {
    return join(this.writerDir, 'haproxy', 'haproxy.cfg');
  }

  get adminSocketPath(): string {
    return join(this.writerDir, 'haproxy', 'haproxy.sock');
  }

  get servicePath(): string {
    return `${this.basePath}/web`;
  }

  discoveryOptions(auth?: { user: string; password: string }): ChaosConfigOptions {
    return { zkHosts: this.zk.hosts, basePath: this.basePath, sessionTimeoutMs: this.options.sessionTimeoutMs ?? 2000, auth };
  }

  private async boot(): Promise<void> {
    [this.webPort] = (await freePorts(1)) as [number];
    await this.reconnectAdmin();
    const counts = this.options.reporters ?? [1, 2];
    for (const [index, count] of counts.entries()) {
      const name = String.fromCharCode(97 + index);
      const backends = await Promise.all(Array.from({ length: count }, (_, i) => startChaosBackend(`${name}${i + 1}`)));
      const dir = join(this.dir.path, `reporter-${name}`);
      await writeAtomic(join(dir, 'discovery', 'zk.yaml'), discoveryYaml(this.discoveryOptions(this.options.reporterAuth)));
      await writeAtomic(join(dir, 'services', 'web.yaml'), serviceYaml(`${name}.test`, backends.map((backend) => backend.port), { fall: this.options.checkFall }));
      this.reporters.push({ name, dir, host: `${name}.test`, backends, process: DaemonProcess.start('reporter', dir) });
    }
    await mkdir(join(this.writerDir, 'haproxy'), { recursive: true });
    await writeAtomic(join(this.writerDir, 'discovery', 'zk.yaml'), discoveryYaml(this.discoveryOptions(this.options.writerAuth)));
    await writeAtomic(join(this.writerDir, 'balancers', 'haproxy.yaml'), haproxyYaml(this.writerDir));
    await writeAtomic(join(this.writerDir, 'clusters', 'web.yaml'), clusterYaml(this.webPort, this.options.clusterExtra));
    this.writer = DaemonProcess.start('writer', this.writerDir);
    await this.waitConverged();
  }

  /**
   * (Re)connects the test's own client, to the given servers only if told:
   * it has no liveness probe, so a test that freezes a server keeps it away
   * from that one.
   */
  async reconnectAdmin(hosts: readonly string[] = this.zk.hosts): Promise<void> {
    await this.admin?.close().catch(() => undefined);
    this.admin = await connectClient(hosts.join(','), this.options.reporterAuth ? { auth: `${this.options.reporterAuth.user}:${this.options.reporterAuth.password}` } : {});
  }

  /** Every backend of every running reporter, `host:port`, sorted. */
  expectedMembers(): string[] {
    return this.reporters
      .filter((reporter) => reporter.process.alive)
      .flatMap((reporter) => reporter.backends.filter((backend) => backend.healthy).map((backend) => `${reporter.host}:${backend.port}`))
      .sort();
  }

  /** Znode names under the service folder, sorted. */
  async registrations(): Promise<string[]> {
    try {
      return (await this.admin.getChildren(this.servicePath)).children.sort();
    } catch (error) {
      if (isNoNode(error)) return [];
      throw error;
    }
  }

  /** Servers HAProxy routes to in backend `web` (not in maintenance), from its runtime API. */
  async routed(backend = 'web'): Promise<string[]> {
    const cli = adminSocket(this.adminSocketPath, { timeoutMs: 2_000 });
    try {
      const rows = parseServersState(await cli.command(`show servers state ${backend}`));
      return rows
        .filter((row) => (Number(row.srv_admin_state ?? 0) & 0x23) === 0)
        .map((row) => row.srv_name ?? '')
        .sort();
    } finally {
      cli.close();
    }
  }

  /** Waits until ZooKeeper and HAProxy both hold exactly `members` (default: every healthy backend). */
  async waitConverged(members = this.expectedMembers(), timeoutMs = 30_000): Promise<void> {
    const want = members.join(',');
    let last = '';
    await waitFor(
      async () => {
        const [registered, routed, written] = await Promise.all([this.registrations(), this.routed().catch(() => [] as string[]), this.configServers()]);
        last = `registered [${registered.join(',')}], routed [${routed.join(',')}], in the config file [${written.join(',')}]`;
        return registered.join(',') === want && routed.join(',') === want && written.join(',') === want;
      },
      `registrations and HAProxy to hold [${want}]`,
      timeoutMs,
      20,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last: ${last}\n--- writer ---\n${this.writer?.tail() ?? ''}`);
    });
  }

  /** Registrations that should exist and do not. */
  async lost(members = this.expectedMembers()): Promise<number> {
    const registered = new Set(await this.registrations());
    return members.filter((member) => !registered.has(member)).length;
  }

  /** Server names of backend `web` in the config file (the file is the truth a restart reproduces). */
  async configServers(backend = 'web'): Promise<string[]> {
    const text = await this.haproxyConfig().catch(() => '');
    const section = text.split(/\n(?=\S)/).find((block) => block.startsWith(`backend ${backend}\n`)) ?? '';
    return [...section.matchAll(/^\s+server (\S+) /gm)].map((match) => match[1]!).sort();
  }

  async haproxyConfig(): Promise<string> {
    return readFile(this.haproxyConfigFile, 'utf8');
  }

  async masterPid(): Promise<number | undefined> {
    const text = await readFile(join(this.writerDir, 'haproxy', 'haproxy.pid'), 'utf8').catch(() => '');
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** Starts one more backend for `reporter` and adds its port to the reporter's service file. */
  async addBackend(reporter: ReporterHandle): Promise<ChaosBackend> {
    const backend = await startChaosBackend(`${reporter.name}${reporter.backends.length + 1}`);
    reporter.backends.push(backend);
    await this.writeService(reporter);
    return backend;
  }

  async writeService(reporter: ReporterHandle): Promise<void> {
    await writeAtomic(join(reporter.dir, 'services', 'web.yaml'), serviceYaml(reporter.host, reporter.backends.map((backend) => backend.port), { fall: this.options.checkFall }));
  }

  /** Starts a stopped reporter again on its config directory. */
  restartReporter(reporter: ReporterHandle): void {
    if (reporter.process.alive) throw new Error(`reporter ${reporter.name} is still running`);
    reporter.process = DaemonProcess.start('reporter', reporter.dir);
  }

  restartWriter(): void {
    if (this.writer.alive) throw new Error('the writer is still running');
    this.writer = DaemonProcess.start('writer', this.writerDir);
  }

  async extraBackend(id: string): Promise<ChaosBackend> {
    const backend = await startChaosBackend(id);
    this.extraBackends.push(backend);
    return backend;
  }

  /** Stops every daemon, HAProxy (by PID), backend and ZooKeeper server this stack started. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.all([this.writer?.stop(), ...this.reporters.map((reporter) => reporter.process.stop())]);
    await killHaproxy(this.dir.path).catch(() => undefined);
    await this.admin?.close().catch(() => undefined);
    await Promise.all([...this.reporters.flatMap((reporter) => reporter.backends), ...this.extraBackends].map((backend) => backend.close()));
    await this.zk.stop();
    await this.dir.remove();
  }
}
