import type { ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { adminSocket, masterSocket, parseServersState, parseShowProc, type CliSocket } from '../../src/balancer/haproxy/runtime-api.js';
import { benchNodeArgs, killAllUnder, spawnTracked, stopChild } from './procs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILT_CLI = join(ROOT, 'dist/cli/main.js');
const SOURCE_CLI = join(ROOT, 'src/cli/main.ts');

/** The CLI a user runs (`npm run bench` builds it first); the TypeScript source when no build exists. */
function cliCommand(): string[] {
  return existsSync(BUILT_CLI) ? [BUILT_CLI] : ['--import', 'tsx', SOURCE_CLI];
}

export type Mode = 'lighthouse' | 'classic';

export interface ClusterSpec {
  name: string;
  port?: number;
  metaCluster?: string;
  acl?: string;
}

export interface WriterSetup {
  dir: string;
  zkHosts: string[];
  zkPath: string;
  mode: Mode;
  clusters: ClusterSpec[];
  metaClusters?: Record<string, { port: number }>;
  /** false: every cluster file says `removal_guard: { enabled: false }` (default: the guard's defaults) */
  removalGuard?: boolean;
}

export interface WriterPaths {
  configDir: string;
  haproxyDir: string;
  adminSocket: string;
  masterSocket: string;
  logFile: string;
}

/** Writes a writer config directory: one discovery, one HAProxy balancer, the clusters. */
export async function writeWriterConfig(setup: WriterSetup): Promise<WriterPaths> {
  const configDir = join(setup.dir, 'config');
  const haproxyDir = join(setup.dir, 'haproxy');
  await Promise.all(['discovery', 'balancers', 'clusters'].map((sub) => mkdir(join(configDir, sub), { recursive: true })));
  await mkdir(haproxyDir, { recursive: true });
  killAllUnder(haproxyDir);
  await writeFile(join(configDir, 'discovery', 'zk.yaml'), stringify({ plugin: 'zookeeper', hosts: setup.zkHosts, path: setup.zkPath }));
  const balancer: Record<string, unknown> = {
    config_file: join(haproxyDir, 'haproxy.cfg'),
    socket_file: join(haproxyDir, 'admin.sock'),
    pid_file: join(haproxyDir, 'haproxy.pid'),
    bind_address: '127.0.0.1',
    // What an operator writes; retries, redispatch, timeouts, idle-close are the writer's defaults.
    defaults: ['mode http'],
  };
  if (setup.mode === 'classic') balancer.update_strategy = 'reload';
  if (setup.metaClusters) balancer.meta_clusters = setup.metaClusters;
  await writeFile(join(configDir, 'balancers', 'haproxy.yaml'), stringify(balancer));
  await writeFile(join(configDir, 'logging.yaml'), stringify({ level: 'info', format: 'json' }));
  await Promise.all(
    setup.clusters.map((cluster) => {
      const haproxy: Record<string, unknown> = {};
      if (cluster.port !== undefined) haproxy.port = cluster.port;
      if (cluster.acl !== undefined) haproxy.acl = cluster.acl;
      const body: Record<string, unknown> = { discovery: 'zk', haproxy };
      if (cluster.metaCluster) body.meta_cluster = cluster.metaCluster;
      if (setup.removalGuard === false) body.removal_guard = { enabled: false };
      return writeFile(join(configDir, 'clusters', `${cluster.name}.yaml`), stringify(body));
    }),
  );
  return {
    configDir,
    haproxyDir,
    adminSocket: join(haproxyDir, 'admin.sock'),
    masterSocket: join(haproxyDir, 'admin-master.sock'),
    logFile: join(setup.dir, 'writer.log'),
  };
}

/** `lighthouse writer CONFIG_DIR` as a child process, its JSON log in a file. */
export function spawnWriter(paths: WriterPaths, extra: readonly string[] = []): ChildProcess {
  return spawnDaemon('writer', paths.configDir, paths.logFile, extra);
}

/** What to run instead of this checkout's CLI with BENCH_NODE_ARGS: another build's `dist/cli/main.js`, other node options (an A/B of two builds or flags). */
export interface DaemonVariant {
  cli?: string;
  nodeArgs?: readonly string[];
}

export function spawnReporter(configDir: string, logFile: string, extra: readonly string[] = [], variant: DaemonVariant = {}): ChildProcess {
  return spawnDaemon('reporter', configDir, logFile, extra, variant);
}

function spawnDaemon(daemon: 'writer' | 'reporter', configDir: string, logFile: string, extra: readonly string[] = [], variant: DaemonVariant = {}): ChildProcess {
  const log = openSync(logFile, 'a');
  try {
    // Profiles (BENCH_NODE_ARGS) are written when the daemons stop.
    const cli = variant.cli === undefined ? cliCommand() : [variant.cli];
    return spawnTracked(process.execPath, [...(variant.nodeArgs ?? benchNodeArgs()), ...cli, daemon, configDir, ...extra], { stdio: ['ignore', log, log], cwd: ROOT });
  } finally {
    closeSync(log);
  }
}

export async function stopDaemon(child: ChildProcess): Promise<void> {
  await stopChild(child, 5_000);
}

/** A writer log line, its ISO time and level name turned into numbers to compare (ms since epoch; pino's 10..60). */
export interface LogLine {
  time: number;
  msg: string;
  level: number;
  [key: string]: unknown;
}

const LEVEL_NUMBERS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export async function readLog(file: string): Promise<LogLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('{')) continue;
    try {
      const line = JSON.parse(raw) as Record<string, unknown> & { msg: string };
      const time = typeof line.time === 'string' ? Date.parse(line.time) : Number(line.time);
      const level = typeof line.level === 'string' ? (LEVEL_NUMBERS[line.level] ?? 0) : Number(line.level);
      lines.push({ ...line, time, level });
    } catch {
      // a partial last line
    }
  }
  return lines;
}

/** Reloads (master-worker or classic -sf) the writer logged between two instants. */
export function reloadsBetween(lines: readonly LogLine[], from: number, to: number): number {
  return lines.filter((line) => line.time >= from && line.time <= to && /^HAProxy reloaded/.test(line.msg)).length;
}

/** The benchmark's own view of HAProxy: admin socket (current worker) and master CLI. */
export class HaproxyView {
  readonly admin: CliSocket;
  private readonly master: CliSocket;

  constructor(paths: WriterPaths) {
    this.admin = adminSocket(paths.adminSocket, { timeoutMs: 10_000 });
    this.master = masterSocket(paths.masterSocket, { timeoutMs: 5_000 });
  }

  /** Servers of the current worker that take traffic (admin state ready, operational state running), per backend. */
  async routableServers(): Promise<Map<string, Set<string>>> {
    this.admin.reset(); // after a reload the socket path belongs to a new worker
    const rows = parseServersState(await this.admin.command('show servers state', 30_000));
    const result = new Map<string, Set<string>>();
    for (const row of rows) {
      const admin = Number(row.srv_admin_state ?? 0);
      const op = Number(row.srv_op_state ?? 0);
      if (admin !== 0 || op !== 2) continue;
      const backend = row.be_name ?? '';
      let set = result.get(backend);
      if (!set) result.set(backend, (set = new Set()));
      set.add(row.srv_name ?? '');
    }
    return result;
  }

  /** Reloads the master counted since it started (master-worker mode only). */
  async masterReloads(): Promise<number | undefined> {
    const text = await this.master.command('show proc').catch(() => undefined);
    return text ? parseShowProc(text)?.master.reloads : undefined;
  }

  close(): void {
    this.admin.close();
    this.master.close();
  }
}
