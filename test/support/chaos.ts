import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { pidsWith } from './processes.js';
export { pidsWith };
import { Agent, createServer, request, type Server } from 'node:http';
import { serve } from './http-backends.js';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

/**
 * Fault-injection helpers for the chaos-*.test.ts files: the real daemons as
 * child processes (so they can be frozen, killed and restarted by PID), HTTP
 * backends whose health can be switched, a bounded load generator, and the
 * result rows `npm run chaos` prints as a table.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO, 'src/cli/main.ts');

/** CHAOS_LONG=1 runs the long variants (minutes-long outages, more load). */
export const LONG = process.env.CHAOS_LONG === '1';

const children = new Set<ChildProcess>();
/** temp dirs whose HAProxy processes (detached, so they outlive us) are killed when this process exits */
const sweptDirs = new Set<string>();

/** Registers a temp dir: any process whose command line names it is killed on exit, even after a crash that skipped after() hooks. */
export function sweepOnExit(dir: string): void {
  sweptDirs.add(dir);
}

process.on('exit', () => {
  // Synchronous: nothing asynchronous runs in an exit handler.
  if (sweptDirs.size > 0) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (![...sweptDirs].some((dir) => cmdline.includes(dir))) continue;
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  // A crashed test must not leave daemons behind (SIGKILL ends a frozen one too).
  for (const child of children) {
    if (!child.pid) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** `lighthouse writer|reporter DIR` as a child process, its JSON log lines kept for assertions. */
export class DaemonProcess {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly kind: 'writer' | 'reporter',
    readonly configDir: string,
    private readonly child: ChildProcess,
  ) {
    children.add(child);
    const onLine = (line: string): void => {
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ msg: line });
      }
    };
    // One reader per stream: a shared buffer would splice a partial stdout line with stderr.
    for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        children.delete(child);
        resolve();
      });
    });
  }

  static start(kind: 'writer' | 'reporter', configDir: string): DaemonProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, kind, configDir], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test' },
    });
    return new DaemonProcess(kind, configDir, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, signal);
  }

  /** Resolves with the first log line matching, waiting for it if needed. */
  async waitForLog(predicate: (line: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    return waitFor(() => this.lines.find(predicate), `${this.kind} log: ${what}`, timeoutMs, 10);
  }

  logged(pattern: RegExp): LogLine[] {
    return this.lines.filter((line) => pattern.test(String(line.msg ?? '')));
  }

  async waitExit(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    if (!this.exit) throw new Error(`${this.kind} (pid ${this.pid}) did not exit within ${timeoutMs} ms`);
    return this.exit;
  }

  /** SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL if it does not exit. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    try {
      process.kill(this.pid, 'SIGCONT');
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    await this.waitExit(10_000).catch(() => {
      if (this.alive) process.kill(this.pid, 'SIGKILL');
    });
    await this.exited;
  }

  /** Log lines for a failing test's diagnostics. */
  tail(count = 40): string {
    return this.raw.slice(-count).join('\n');
  }
}

/** An HTTP backend whose health endpoint can be switched off while it keeps serving everything else. */
export interface ChaosBackend {
  id: string;
  port: number;
  healthy: boolean;
  requests: number;
  close(): Promise<void>;
}

export async function startChaosBackend(id: string): Promise<ChaosBackend> {
  const backend = { id, port: 0, healthy: true, requests: 0 } as ChaosBackend;
  const server: Server = createServer((req, res) => {
    if (req.url === '/health') {
      res.statusCode = backend.healthy ? 200 : 503;
      res.end(backend.healthy ? 'ok' : 'unhealthy');
      return;
    }
    backend.requests += 1;
    res.end(`${id} ${req.url ?? ''}`);
  });
  server.keepAliveTimeout = 5_000;
  Object.assign(backend, await serve(server));
  return backend;
}

export interface LoadReport {
  sent: number;
  failed: number;
  /** first few failures, for the assertion message */
  errors: string[];
  /** which backend ids answered */
  reached: Map<string, number>;
}

/**
 * Bounded load against 127.0.0.1:port: `concurrency` loops, each sending one
 * request after the other (with `pauseMs` between), until stopped or
 * `maxRequests` were sent. Half the loops use fresh connections, half a
 * keep-alive agent, since reloads and removals hit the two differently.
 */
export class LoadGenerator {
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
  readonly report: LoadReport = { sent: 0, failed: 0, errors: [], reached: new Map() };
  /** performance.now() of the last failure and of the first success after it, for recovery times */
  lastFailureAt: number | undefined;
  private readonly successListeners = new Set<(at: number) => void>();

  constructor(
    readonly port: number,
    options: { concurrency?: number; pauseMs?: number; maxRequests?: number } = {},
  ) {
    const { concurrency = 4, pauseMs = 10, maxRequests = LONG ? 200_000 : 20_000 } = options;
    for (let index = 0; index < concurrency; index += 1) {
      this.loops.push(this.loop(index % 2 === 0 ? false : this.keepAlive, pauseMs, maxRequests));
    }
  }

  /** Resolves at the first successful answer after `since` (performance.now()). */
  nextSuccessAfter(since: number): Promise<number> {
    return new Promise((resolve) => {
      const listener = (at: number): void => {
        if (at < since) return;
        this.successListeners.delete(listener);
        resolve(at);
      };
      this.successListeners.add(listener);
    });
  }

  private async loop(agent: Agent | false, pauseMs: number, maxRequests: number): Promise<void> {
    while (this.running && this.report.sent < maxRequests) {
      this.report.sent += 1;
      const started = performance.now();
      try {
        const body = await get(this.port, agent);
        const id = body.split(' ')[0]!;
        this.report.reached.set(id, (this.report.reached.get(id) ?? 0) + 1);
        const at = performance.now();
        for (const listener of [...this.successListeners]) listener(at);
      } catch (error) {
        this.report.failed += 1;
        this.lastFailureAt = started;
        if (this.report.errors.length < 5) this.report.errors.push(`${new Date().toISOString()} ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }

  /** Stops sending and waits for requests in flight. */
  async stop(): Promise<LoadReport> {
    this.running = false;
    await Promise.all(this.loops);
    this.keepAlive.destroy();
    return this.report;
  }
}

function get(port: number, agent: Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/load', agent, headers: agent ? {} : { Connection: 'close' }, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode ?? 0}: ${body.slice(0, 80).trim()}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** One GET that resolves with the answering backend id, or undefined when it failed. */
export async function probe(port: number): Promise<string | undefined> {
  try {
    return (await get(port, false)).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Sends `count` sequential requests and returns the backend ids that answered. */
export async function reached(port: number, count = 12): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let index = 0; index < count; index += 1) {
    const id = await probe(port);
    if (id) ids.add(id);
  }
  return ids;
}

// ------------------------------------------------------------------ config files

export interface ChaosConfigOptions {
  zkHosts: readonly string[];
  basePath: string;
  sessionTimeoutMs?: number;
  auth?: { user: string; password: string };
}

/** Writes a file atomically (temp + rename), as an operator's tooling would, so the watcher never sees half a file. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`);
  await writeFile(temp, text);
  await rename(temp, path);
}

export function discoveryYaml(options: ChaosConfigOptions): string {
  const lines = [
    'plugin: zookeeper',
    'hosts:',
    ...options.zkHosts.map((host) => `  - "${host}"`),
    `path: ${options.basePath}`,
    `session_timeout_ms: ${options.sessionTimeoutMs ?? 2000}`,
    'operation_timeout_ms: 1000',
  ];
  if (options.auth) lines.push('auth:', '  scheme: digest', `  user: ${options.auth.user}`, `  password: ${options.auth.password}`);
  return `${lines.join('\n')}\n`;
}

export function haproxyYaml(dir: string, extra: string[] = []): string {
  return [
    `config_file: ${dir}/haproxy/haproxy.cfg`,
    `socket_file: ${dir}/haproxy/haproxy.sock`,
    `pid_file: ${dir}/haproxy/haproxy.pid`,
    'bind_address: 127.0.0.1',
    'reload_min_interval_ms: 0',
    'defaults:',
    '  - mode http',
    '  - timeout connect 2s',
    '  - timeout client 10s',
    '  - timeout server 10s',
    ...extra,
    '',
  ].join('\n');
}

export function clusterYaml(port: number, extra: string[] = []): string {
  return ['discovery: zk', 'haproxy:', `  port: ${port}`, ...extra, ''].join('\n');
}

/**
 * A service whose ports are health-checked over HTTP (every 0.5 s, down after
 * 2 failures) and advertised as `host` on 127.0.0.1. Not faster: the backends
 * live in the test process, and on two shared cores a single check can miss
 * a 0.16 s timeout: with fall 1 one slow answer deregisters a healthy port.
 */
export function serviceYaml(host: string, ports: readonly number[], options: { interval?: number; fall?: number } = {}): string {
  return [
    'discovery: zk',
    'host: 127.0.0.1',
    'ports:',
    ...ports.map((port) => `  - ${port}`),
    'advertise:',
    `  host: ${host}`,
    '  ip: 127.0.0.1',
    'checks:',
    `  interval: ${options.interval ?? 0.5}`,
    '  http:',
    '    uri: /health',
    '    rise: 1',
    `    fall: ${options.fall ?? 2}`,
    '',
  ].join('\n');
}

// ------------------------------------------------------------------ processes

/** HAProxy processes (master and workers) started with a config under `dir`. */
export async function haproxyPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await pidsWith(dir)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0')[0]?.endsWith('haproxy')) pids.push(pid);
  }
  return pids;
}

/** HAProxy masters started with a config under `dir`: workers are forks of a master with the same command line, so a master is one whose parent is not HAProxy. */
export async function haproxyMasters(dir: string): Promise<number[]> {
  const pids = await haproxyPids(dir);
  const masters: number[] = [];
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!pids.includes(ppid)) masters.push(pid);
  }
  return masters;
}

/** Kills every HAProxy started from `dir` (by PID) and waits until they are gone. */
export async function killHaproxy(dir: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number[]> {
  const pids = await haproxyPids(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
  await waitFor(async () => (await haproxyPids(dir)).filter((pid) => pids.includes(pid)).length === 0, `HAProxy processes of ${dir} to exit`, 5_000);
  return pids;
}

// ------------------------------------------------------------------ results

export interface ChaosResult {
  scenario: string;
  requests: number;
  failed: number;
  /** registrations that should exist and did not at the end */
  lost: number;
  /** measured, never asserted */
  recoveryMs: number | undefined;
  note?: string;
}

/**
 * Records a scenario's figures: as a test diagnostic, and as a JSON line in
 * $CHAOS_RESULTS when `npm run chaos` collects them for its table.
 */
export function recordResult(result: ChaosResult, diagnostic: (message: string) => void): void {
  const recovery = result.recoveryMs === undefined ? '-' : `${Math.round(result.recoveryMs)} ms`;
  diagnostic(`${result.scenario}: ${result.requests} requests, ${result.failed} failed, ${result.lost} registrations lost, recovery ${recovery}${result.note ? ` (${result.note})` : ''}`);
  const file = process.env.CHAOS_RESULTS;
  if (file) appendFileSync(file, `${JSON.stringify(result)}\n`);
}
