import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assignPorts, demoFiles, demoLayout, PORT_COUNT, writeFiles, type DemoPorts } from './config.js';
import { redisCommand, startRedis, startZookeeper } from './local-servers.js';
import { isAlive, ManagedChild, signalPid } from './processes.js';
import { freePorts } from '../lib/free-port.js';
import { pollUntil } from '../lib/poll.js';
import { httpGetText, partnerService, sprocketsInstance, webappInstance, widgetsInstance, type SampleInstance } from './sample-services.js';
import type { DashboardState } from '../writer/dashboard-state.js';

// Errors here stay plain: they reach the user only through the demo command,
// which prints them under LH_DEMO_START (src/cli/demo-command.ts).

export interface DemoOptions {
  /** stop by itself after this many seconds (tests); default: until Ctrl-C */
  durationSeconds?: number;
  /** requests per second the demo sends through HAProxy */
  rate: number;
  /** leave the temp folder (configs, logs) in place after stopping, for a look at what happened */
  keepFiles?: boolean;
  out?: NodeJS.WriteStream;
}

/** What the traffic saw, by cluster and instance. */
interface Tally {
  byCluster: Map<string, Map<string, number>>;
  errors: number;
}

const newTally = (): Tally => ({ byCluster: new Map(), errors: 0 });

/** Routes the traffic generator takes, in turn: the webapp gets half, each API cluster a quarter. */
const ROUTES = [
  { cluster: 'webapp', frontend: 'webappFrontend', path: '/' },
  { cluster: 'widgets', frontend: 'apiFrontend', path: '/api/widgets' },
  { cluster: 'webapp', frontend: 'webappFrontend', path: '/' },
  { cluster: 'sprockets', frontend: 'apiFrontend', path: '/api/sprockets' },
] as const satisfies readonly { cluster: string; frontend: keyof DemoPorts; path: string }[];

/** HAProxy serves a server that is UP, or one without health checks ("no check"): Lighthouse's reporters do the checking. */
const serving = (status: string | null): boolean => status !== null && (status.startsWith('UP') || status === 'no check');

const EXPECTED_MEMBERS: Record<string, number> = { webapp: 3, cache: 2, widgets: 2, sprockets: 2 };

/**
 * `lighthouse demo`: the original project's two example setups as local
 * processes in a temp folder (ZooKeeper, Redis, HAProxy through a real writer,
 * two reporters standing for two machines, sample services), traffic through
 * HAProxy, and one instance crashing and coming back. Everything it starts
 * is stopped by PID when it ends, and the temp folder is removed.
 */
export class Demo {
  private readonly out: NodeJS.WriteStream;
  private root = '';
  private ports!: DemoPorts;
  private readonly children: ManagedChild[] = [];
  private readonly instances: SampleInstance[] = [];
  private haproxyPid: number | undefined;
  private stopping: Promise<void> | undefined;
  private trafficTimer: NodeJS.Timeout | undefined;
  private liveTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private readonly total = newTally();
  private window = newTally();
  private routeIndex = 0;
  private finished!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finished = resolve));

  constructor(private readonly options: DemoOptions) {
    this.out = options.out ?? process.stdout;
  }

  /** On a terminal the traffic line is redrawn in place, and other lines print above it. */
  private liveLine = '';

  private say(line: string): void {
    if (this.out.isTTY) this.out.write('\r\x1b[K');
    this.out.write(`${line}\n`);
    if (this.out.isTTY && this.liveLine) this.out.write(this.liveLine);
  }

  private showLive(line: string): void {
    if (!this.out.isTTY) {
      this.out.write(`${line}\n`);
      return;
    }
    this.liveLine = line.slice(0, Math.max(20, (this.out.columns || 200) - 1));
    this.out.write(`\r\x1b[K${this.liveLine}`);
  }

  async start(): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), 'lighthouse-demo-'));
    this.ports = assignPorts(await freePorts(PORT_COUNT));
    const layout = demoLayout(this.root);
    this.say(`Lighthouse demo: every process listens on 127.0.0.1 only; files and logs in ${this.root}`);

    this.say('starting ZooKeeper and two Redis servers ...');
    await Promise.all(
      [startZookeeper(this.root, this.ports.zookeeper), startRedis(this.root, 'redis-1', this.ports.redis[0]), startRedis(this.root, 'redis-2', this.ports.redis[1])].map((starting) =>
        starting.then((child) => this.track(child)),
      ),
    );

    const p = this.ports;
    this.instances.push(
      webappInstance('webapp-a1', p.webapp[0], p.cacheFrontend),
      webappInstance('webapp-a2', p.webapp[1], p.cacheFrontend),
      webappInstance('webapp-b1', p.webapp[2], p.cacheFrontend),
      widgetsInstance('widgets-a', p.widgets[0]),
      widgetsInstance('widgets-b', p.widgets[1]),
      sprocketsInstance('sprockets-a', p.sprockets[0], p.partnerProxy),
      sprocketsInstance('sprockets-b', p.sprockets[1], p.partnerProxy),
      partnerService(p.partner),
    );
    await Promise.all(this.instances.map((instance) => instance.start()));

    await writeFiles(this.root, demoFiles(this.ports, layout.haproxyDir));
    await mkdir(layout.haproxyDir, { recursive: true });

    this.say('starting the writer (drives HAProxy) and one reporter per simulated machine ...');
    this.track(this.lighthouse('writer', [layout.writer, '--metrics-port', String(p.dashboard)]));
    for (const machine of layout.machines) this.track(this.lighthouse(`reporter-${machine.name}`, [machine.dir], 'reporter'));

    await this.waitHealthy(60_000);
    this.haproxyPid = await this.readHaproxyPid(join(layout.haproxyDir, 'haproxy.pid'));

    this.say('');
    this.say('Ready. Open in a browser or with curl:');
    this.say(`  webapp (cluster of 3, counts visits in Redis via HAProxy)  http://127.0.0.1:${p.webappFrontend}/`);
    this.say(`  API meta-cluster (one port, routed by path)               http://127.0.0.1:${p.apiFrontend}/api/widgets`);
    this.say(`                                                            http://127.0.0.1:${p.apiFrontend}/api/sprockets  (calls the partner through a proxy)`);
    this.say(`  cache cluster (2 Redis servers, TCP)                       redis-cli -p ${p.cacheFrontend} GET visits`);
    this.say(`  HAProxy stats page                                        http://127.0.0.1:${p.stats}/`);
    this.say(`  writer dashboard                                          http://127.0.0.1:${p.dashboard}/`);
    this.say(`  writer metrics                                            http://127.0.0.1:${p.dashboard}/metrics`);
    this.say(`  config dirs: ${layout.writer} (writer), ${layout.machines.map((machine) => machine.dir).join(', ')} (reporters)`);
    this.say(`pids: ${this.children.map((child) => `${child.spec.name}=${child.pid ?? '?'}`).join(' ')} haproxy=${this.haproxyPid ?? '?'}`);
    this.say(`Sending ${this.options.rate} requests/s through HAProxy. ${this.options.durationSeconds ? `Stopping after ${this.options.durationSeconds} s.` : 'Ctrl-C stops everything.'}`);
    this.say('');

    this.startTraffic();
    this.later(8_000, () => void this.healingScene());
    if (this.options.durationSeconds !== undefined) this.later(this.options.durationSeconds * 1000, () => void this.stop('duration reached'));
  }

  private track(child: ManagedChild): ManagedChild {
    this.children.push(child);
    child.onUnexpectedExit = (info) => {
      if (this.stopping) return;
      this.say(`!! ${child.spec.name} exited unexpectedly (${info}); its log: ${child.spec.logFile}`);
    };
    return child;
  }

  /** A Lighthouse daemon as a real child process: the same CLI, run the same way this process was. */
  private lighthouse(name: string, args: string[], command = name): ManagedChild {
    const script = process.argv[1];
    if (!script) throw new Error('cannot tell which script runs the lighthouse CLI');
    return ManagedChild.start({
      name,
      command: process.execPath,
      args: [...process.execArgv, script, command, ...args],
      logFile: join(this.root, `${name}.log`),
      // JSON lines in the log files: the demo's terminal stays readable.
      env: { ...process.env, FORCE_COLOR: '0' },
    });
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopping) run();
    }, ms);
    this.timers.add(timer);
  }

  private async dashboardState(): Promise<DashboardState> {
    return JSON.parse(await httpGetText(this.ports.dashboard, '/api/state')) as DashboardState;
  }

  /** Every cluster has all its members, and HAProxy has them UP. */
  private async waitHealthy(timeoutMs: number): Promise<void> {
    let last = 'the writer has not answered yet';
    try {
      await pollUntil(
        async () => {
          const broken = this.children.find((child) => child.exit !== undefined);
          if (broken) throw new Error(`${broken.spec.name} ${broken.exit ?? ''} (see ${broken.spec.logFile})`);
          const state = await this.dashboardState();
          const missing = Object.entries(EXPECTED_MEMBERS).filter(([name, count]) => {
            const cluster = state.clusters.find((candidate) => candidate.name === name);
            return !cluster || cluster.members.filter((member) => serving(member.status)).length < count;
          });
          last = missing.length ? `waiting for ${missing.map(([name, count]) => `${name} (${count} serving)`).join(', ')}` : '';
          return state.ready && missing.length === 0;
        },
        'every cluster to be registered and UP in HAProxy',
        timeoutMs,
        250,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; ${last}; logs in ${this.root}`);
    }
  }

  private async readHaproxyPid(file: string): Promise<number | undefined> {
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  // ------------------------------------------------------------- traffic

  private startTraffic(): void {
    const everyMs = Math.max(5, Math.round(1000 / this.options.rate));
    this.trafficTimer = setInterval(() => this.sendOne(), everyMs);
    const printEvery = this.out.isTTY ? 1_000 : 5_000;
    this.liveTimer = setInterval(() => void this.printLive(), printEvery);
  }

  private sendOne(): void {
    // Bounded: a stuck HAProxy must not pile up sockets in the demo.
    if (this.inFlight >= 20) return;
    const route = ROUTES[this.routeIndex++ % ROUTES.length]!;
    this.inFlight += 1;
    httpGetText(this.ports[route.frontend], route.path)
      .then((text) => {
        const instance = (JSON.parse(text) as { instance?: string }).instance ?? 'unknown';
        for (const tally of [this.total, this.window]) {
          const counts = tally.byCluster.get(route.cluster) ?? new Map<string, number>();
          tally.byCluster.set(route.cluster, counts);
          counts.set(instance, (counts.get(instance) ?? 0) + 1);
        }
      })
      .catch(() => {
        this.total.errors += 1;
        this.window.errors += 1;
      })
      .finally(() => (this.inFlight -= 1));
  }

  private async cacheVisits(): Promise<[string, number][]> {
    return Promise.all(
      this.ports.redis.map(async (port, index): Promise<[string, number]> => [`redis-${index + 1}`, Number((await redisCommand(port, ['GET', 'visits']).catch(() => null)) ?? 0)]),
    );
  }

  private async printLive(): Promise<void> {
    const window = this.window;
    this.window = newTally();
    const parts: string[] = [];
    for (const cluster of ['webapp', 'widgets', 'sprockets']) {
      const counts = window.byCluster.get(cluster) ?? new Map<string, number>();
      const sum = [...counts.values()].reduce((a, b) => a + b, 0);
      const spread = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([instance, count]) => `${instance.replace(`${cluster}-`, '')} ${Math.round((100 * count) / Math.max(sum, 1))}%`);
      parts.push(`${cluster} [${spread.join(' ') || 'no answers'}]`);
    }
    const visits = await this.cacheVisits();
    parts.push(`cache visits [${visits.map(([name, count]) => `${name} ${count}`).join(' ')}]`);
    parts.push(`partner calls ${this.partnerCalls()}`);
    parts.push(`errors ${window.errors}`);
    if (!this.stopping) this.showLive(`traffic: ${parts.join('  ')}`);
  }

  private partnerCalls(): number {
    return this.instances.find((instance) => instance.name === 'partner')?.requests ?? 0;
  }

  // -------------------------------------------------------------- healing

  /** Crash one webapp instance, watch the cluster shrink, bring it back, watch it heal. */
  private async healingScene(): Promise<void> {
    const victim = this.instances.find((instance) => instance.name === 'webapp-b1');
    if (!victim) return;
    const node = `machine-b:${victim.port}`;
    try {
      this.say(`>> crashing webapp-b1 (${node}) ...`);
      await victim.stop();
      await pollUntil(async () => !this.stopping && (await this.members('webapp')).every((member) => member.node !== node), 'webapp-b1 to leave the cluster', 30_000, 200);
      this.say('>> machine-b\'s reporter saw its checks fail and deregistered it; the writer took it out of HAProxy (runtime API, no reload). webapp has 2 members.');
      this.later(6_000, () => void this.healingSceneEnd(victim, node));
    } catch (error) {
      if (!this.stopping) this.say(`!! healing scene: ${(error as Error).message}`);
    }
  }

  private async healingSceneEnd(victim: SampleInstance, node: string): Promise<void> {
    try {
      this.say('>> restarting webapp-b1 ...');
      await victim.start();
      await pollUntil(async () => !this.stopping && (await this.members('webapp')).some((member) => member.node === node && serving(member.status)), 'webapp-b1 to be back', 30_000, 200);
      this.say('>> webapp-b1 passed its checks again, was re-registered and is back in HAProxy: the cluster healed.');
    } catch (error) {
      if (!this.stopping) this.say(`!! healing scene: ${(error as Error).message}`);
    }
  }

  private async members(cluster: string): Promise<DashboardState['clusters'][number]['members']> {
    return (await this.dashboardState()).clusters.find((candidate) => candidate.name === cluster)?.members ?? [];
  }

  // ----------------------------------------------------------------- stop

  /** Stops everything this demo started (by PID), then removes the temp folder. Safe to call twice. */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.stopNow(reason).finally(() => this.finished());
    return this.stopping;
  }

  private async stopNow(reason: string): Promise<void> {
    clearInterval(this.trafficTimer);
    clearInterval(this.liveTimer);
    for (const timer of this.timers) clearTimeout(timer);
    this.liveLine = '';
    this.say(`stopping (${reason}) ...`);
    if (this.total.byCluster.size > 0) {
      const summary: Record<string, unknown> = Object.fromEntries([...this.total.byCluster].map(([cluster, counts]) => [cluster, Object.fromEntries(counts)]));
      summary.cache = Object.fromEntries(await this.cacheVisits());
      summary.partner = this.partnerCalls();
      summary.errors = this.total.errors;
      this.say(`summary: ${JSON.stringify(summary)}`);
    }
    const byName = (prefix: string) => this.children.filter((child) => child.spec.name.startsWith(prefix));
    // Reporters first: they deregister at once, so the writer sees the fleet leave cleanly.
    await Promise.all(byName('reporter').map((child) => child.stop()));
    await Promise.all(byName('writer').map((child) => child.stop()));
    // The writer leaves HAProxy serving on purpose (that is its contract); the demo owns it, so it stops it.
    const haproxyPid = this.haproxyPid ?? (this.root ? await this.readHaproxyPid(join(this.root, 'haproxy', 'haproxy.pid')) : undefined);
    if (haproxyPid !== undefined && signalPid(haproxyPid, 'SIGTERM')) {
      await pollUntil(() => !isAlive(haproxyPid), 'HAProxy to exit', 5_000).catch(() => signalPid(haproxyPid, 'SIGKILL'));
    }
    await Promise.all(this.instances.map((instance) => instance.stop()));
    await Promise.all(this.children.map((child) => child.stop()));
    if (this.root) {
      const leftovers = await processesMentioning(this.root);
      for (const pid of leftovers) signalPid(pid, 'SIGKILL');
      if (leftovers.length > 0) this.say(`killed ${leftovers.length} leftover process(es): ${leftovers.join(', ')}`);
      if (this.options.keepFiles) this.say(`kept ${this.root} (configs and logs)`);
      else await rm(this.root, { recursive: true, force: true });
    }
    this.say(`demo stopped: every process it started has exited${this.options.keepFiles ? '' : ' and its temp folder is removed'}.`);
  }
}

/**
 * PIDs whose command line mentions `path` (e.g. HAProxy workers, whose
 * `-f <dir>/haproxy.cfg` names the demo's folder): a last sweep that can only
 * match the demo's own processes, because the folder name is unique.
 */
export async function processesMentioning(path: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.includes(path))) pids.push(Number(entry));
  }
  return pids;
}
