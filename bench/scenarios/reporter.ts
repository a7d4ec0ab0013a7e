import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePorts } from '../../test/support/ports.js';
import { startBackends, type BackendGroup } from '../lib/backends.js';
import { cpuPercentOver, type BenchContext } from '../lib/context.js';
import { spawnReporter, stopDaemon, type DaemonVariant } from '../lib/lighthouse.js';
import { sleep, spawnTracked, stopChild, waitUntil } from '../lib/procs.js';
import { fileURLToPath } from 'node:url';
import { median, round } from '../lib/stats.js';
import { metricValue } from '../lib/metrics.js';

const FLOOR = fileURLToPath(new URL('../socket-floor.ts', import.meta.url));

export interface ReporterResult {
  services: number;
  portsPerService: number;
  /** checks the reporter ran per second while measured (its own counter) */
  checksPerSecond: number;
  registered: number;
  /** time to register every port from start */
  registerMs: number | undefined;
  cpuPercentOfOneCore: number;
  /** the kernel's part of it: mostly TCP connect, write and close, one of each per check */
  kernelPercentOfOneCore: number;
  /**
   * The same exchanges with nothing around them (bench/socket-floor.ts), in
   * the same run: what a new connection per check costs Node on this machine.
   */
  floorCpuPercentOfOneCore: number | undefined;
  floorKernelPercentOfOneCore: number | undefined;
  /** the same floor with its loops spread evenly over each second instead of one burst */
  spreadFloorCpuPercentOfOneCore: number | undefined;
  /**
   * How many separate bursts each process's work came in: its main thread's
   * wake-ups per second (voluntary context switches, /proc). Says which
   * floor the reporter's schedule is like: ~1,000/s is one wake-up per
   * check, as in the spread floor; the burst floor wakes ~80-130 times.
   */
  wakeupsPerSecond: number;
  floorWakeupsPerSecond: number | undefined;
  spreadFloorWakeupsPerSecond: number | undefined;
  rssMb: number;
  seconds: number;
}

const BASE = '/bench/reporter';

/** The reporter's config dir for `services` x `portsPerService` HTTP checks every second, and the backends they check. */
interface ReporterSetup {
  configDir: string;
  dir: string;
  services: number;
  total: number;
  backends: BackendGroup;
}

async function setUp(context: BenchContext, services: number, portsPerService: number): Promise<ReporterSetup> {
  const backends = await startBackends(services * portsPerService, 'health');
  const dir = join(context.root, 'reporter');
  const configDir = join(dir, 'config');
  await mkdir(join(configDir, 'discovery'), { recursive: true });
  await mkdir(join(configDir, 'services'), { recursive: true });
  await writeFile(join(configDir, 'discovery', 'zk.yaml'), stringify({ plugin: 'zookeeper', hosts: context.zk.hosts, path: BASE }));
  await writeFile(join(configDir, 'logging.yaml'), stringify({ level: 'warn', format: 'json' }));
  for (let s = 0; s < services; s += 1) {
    const ports = backends.ports.slice(s * portsPerService, (s + 1) * portsPerService);
    await writeFile(
      join(configDir, 'services', `svc${s}.yaml`),
      stringify({ discovery: 'zk', ports, advertise: { host: 'reporter.bench', ip: '127.0.0.1' }, checks: { interval: 1, http: { uri: '/health', rise: 1, fall: 2 } } }),
    );
  }
  return { configDir, dir, services, total: services * portsPerService, backends };
}

interface ReporterRun {
  checksPerSecond: number;
  registered: number;
  registerMs: number | undefined;
  cpuPercent: number;
  kernelPercent: number;
  wakeupsPerSecond: number;
  rssMb: number;
}

/** Starts a reporter on the setup's config, waits for every port to be registered and 2 s more, measures it for `seconds`, stops it. */
async function measureReporter(context: BenchContext, setup: ReporterSetup, seconds: number, variant?: DaemonVariant): Promise<ReporterRun> {
  const [metricsPort] = await freePorts(1);
  const started = performance.now();
  const child = spawnReporter(setup.configDir, join(setup.dir, 'reporter.log'), ['--metrics-port', String(metricsPort)], variant);
  try {
    let registered = 0;
    let registerMs: number | undefined;
    try {
      await waitUntil(
        async () => {
          const counts = await Promise.all(
            Array.from({ length: setup.services }, (_, s) =>
              context.client.getChildren(`${BASE}/svc${s}`).then(
                (answer) => answer.children.length,
                () => 0,
              ),
            ),
          );
          registered = counts.reduce((sum, count) => sum + count, 0);
          return registered >= setup.total;
        },
        `${setup.total} ports to be registered`,
        60_000,
        500,
      );
      registerMs = performance.now() - started;
    } catch (error) {
      context.log(`reporter: ${String(error)}`);
    }
    await sleep(2_000);
    const checksBefore = await metricValue(metricsPort!, 'lighthouse_checks_total');
    const measuredFrom = performance.now();
    const usage = await cpuPercentOver(child.pid!, seconds * 1000);
    const checksAfter = await metricValue(metricsPort!, 'lighthouse_checks_total');
    return {
      checksPerSecond: round((checksAfter - checksBefore) / ((performance.now() - measuredFrom) / 1000), 0),
      registered,
      registerMs: registerMs === undefined ? undefined : round(registerMs, 0),
      cpuPercent: round(usage.cpuPercent, 2),
      kernelPercent: round(usage.kernelPercent, 2),
      wakeupsPerSecond: round(usage.wakeupsPerSecond, 0),
      rssMb: round(usage.rssMb, 1),
    };
  } finally {
    await stopDaemon(child);
  }
}

/**
 * Reporter cost: `services` x 5 ports, an HTTP check each every second
 * against real local HTTP servers, registered in ZooKeeper. Measures the
 * reporter's CPU share (of one core) and RSS once everything is registered.
 */
export async function reporterCost(context: BenchContext, services: number, seconds: number, portsPerService = 5): Promise<ReporterResult> {
  const setup = await setUp(context, services, portsPerService);
  try {
    const run = await measureReporter(context, setup, seconds);
    const floor = await socketFloor(context, setup.backends.ports, seconds, false);
    const spreadFloor = await socketFloor(context, setup.backends.ports, seconds, true);
    return {
      services,
      portsPerService,
      checksPerSecond: run.checksPerSecond,
      registered: run.registered,
      registerMs: run.registerMs,
      cpuPercentOfOneCore: run.cpuPercent,
      kernelPercentOfOneCore: run.kernelPercent,
      floorCpuPercentOfOneCore: floor === undefined ? undefined : round(floor.cpuPercent, 2),
      floorKernelPercentOfOneCore: floor === undefined ? undefined : round(floor.kernelPercent, 2),
      spreadFloorCpuPercentOfOneCore: spreadFloor === undefined ? undefined : round(spreadFloor.cpuPercent, 2),
      wakeupsPerSecond: run.wakeupsPerSecond,
      floorWakeupsPerSecond: floor === undefined ? undefined : round(floor.wakeupsPerSecond, 0),
      spreadFloorWakeupsPerSecond: spreadFloor === undefined ? undefined : round(spreadFloor.wakeupsPerSecond, 0),
      rssMb: run.rssMb,
      seconds,
    };
  } finally {
    await stopChild(setup.backends.child);
  }
}

export interface ReporterAbStep {
  what: 'A' | 'B' | 'floor' | 'spread floor';
  cpuPercent: number | undefined;
  kernelPercent: number | undefined;
  wakeupsPerSecond: number | undefined;
  checksPerSecond?: number;
  /** a reporter step counts only if it ran at least 90 % of the configured checks per second */
  ranTheChecks?: boolean;
  rssMb?: number;
}

export interface ReporterAbResult {
  services: number;
  seconds: number;
  a: DaemonVariant;
  b: DaemonVariant;
  /** every measurement in the order taken: A B F Fs Fs F B A */
  steps: ReporterAbStep[];
  /** the median CPU % of each kind's two steps (a reporter step that did not run its checks left out) */
  aCpuPercent: number | undefined;
  bCpuPercent: number | undefined;
  floorCpuPercent: number | undefined;
  spreadFloorCpuPercent: number | undefined;
}

/**
 * Two reporters compared in one run (`--only=reporter-ab`): A is this
 * checkout's build, B another build (`--reporter-b-cli=DIR/dist/cli/main.js`)
 * or other node options (`--reporter-b-node-args=...`), each at `services`
 * x 5 checks a second, with both socket floors, interleaved A B F Fs Fs F B A,
 * so a machine getting busier or quieter during the run moves both sides of
 * every ratio alike.
 */
export async function reporterAb(context: BenchContext, services: number, seconds: number, b: DaemonVariant): Promise<ReporterAbResult> {
  const setup = await setUp(context, services, 5);
  const a: DaemonVariant = {};
  const steps: ReporterAbStep[] = [];
  try {
    const reporter = async (which: 'A' | 'B'): Promise<void> => {
      const run = await measureReporter(context, setup, seconds, which === 'A' ? a : b);
      if (run.registered < setup.total) context.log(`reporter ${which}: only ${run.registered} of ${setup.total} ports registered`);
      // A reporter that ran far fewer checks than configured measured something else (once: 314 of 1,000 checks/s at 7.6 % CPU, 4 wake-ups/s).
      const ranTheChecks = run.checksPerSecond >= 0.9 * setup.total;
      if (!ranTheChecks) context.log(`reporter ${which}: ran ${run.checksPerSecond} of ${setup.total} checks/s: left out of the medians`);
      steps.push({ what: which, ranTheChecks, cpuPercent: run.cpuPercent, kernelPercent: run.kernelPercent, wakeupsPerSecond: run.wakeupsPerSecond, checksPerSecond: run.checksPerSecond, rssMb: run.rssMb });
      context.log(`reporter ${which}: ${run.cpuPercent} % (kernel ${run.kernelPercent} %), ${run.checksPerSecond} checks/s, ${run.wakeupsPerSecond} wake-ups/s`);
    };
    const floor = async (spread: boolean): Promise<void> => {
      const usage = await socketFloor(context, setup.backends.ports, seconds, spread);
      const what = spread ? 'spread floor' : 'floor';
      steps.push({ what, cpuPercent: usage && round(usage.cpuPercent, 2), kernelPercent: usage && round(usage.kernelPercent, 2), wakeupsPerSecond: usage && round(usage.wakeupsPerSecond, 0) });
      context.log(`${what}: ${usage === undefined ? 'failed' : `${round(usage.cpuPercent, 2)} %, ${round(usage.wakeupsPerSecond, 0)} wake-ups/s`}`);
    };
    await reporter('A');
    await reporter('B');
    await floor(false);
    await floor(true);
    await floor(true);
    await floor(false);
    await reporter('B');
    await reporter('A');
  } finally {
    await stopChild(setup.backends.child);
  }
  const medianCpu = (what: ReporterAbStep['what']): number | undefined => {
    const values = steps.filter((step) => step.what === what && step.ranTheChecks !== false && step.cpuPercent !== undefined).map((step) => step.cpuPercent!);
    return values.length === 0 ? undefined : round(median(values), 2);
  };
  return { services, seconds, a, b, steps, aCpuPercent: medianCpu('A'), bCpuPercent: medianCpu('B'), floorCpuPercent: medianCpu('floor'), spreadFloorCpuPercent: medianCpu('spread floor') };
}

/** Runs bench/socket-floor.ts against `ports` and measures its CPU after a second of warm-up. */
async function socketFloor(context: BenchContext, ports: readonly number[], seconds: number, spread: boolean): Promise<{ cpuPercent: number; kernelPercent: number; wakeupsPerSecond: number } | undefined> {
  const child = spawnTracked(process.execPath, ['--import', 'tsx', FLOOR, ...(spread ? ['--spread'] : []), String(seconds + 2), ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await sleep(1_500);
    const usage = await cpuPercentOver(child.pid!, seconds * 1000);
    await exited;
    const summary = JSON.parse(output) as { exchanges: number; failed: number };
    if (summary.failed > 0) context.log(`reporter floor: ${summary.failed} of ${summary.exchanges} exchanges failed`);
    return usage;
  } catch (error) {
    context.log(`reporter floor: ${String(error)}`);
    return undefined;
  } finally {
    await stopChild(child);
  }
}
