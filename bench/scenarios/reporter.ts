import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePorts } from '../../test/support/ports.js';
import { startBackends } from '../lib/backends.js';
import { cpuPercentOver, type BenchContext } from '../lib/context.js';
import { spawnReporter, stopDaemon } from '../lib/lighthouse.js';
import { sleep, spawnTracked, stopChild, waitUntil } from '../lib/procs.js';
import { fileURLToPath } from 'node:url';
import { round } from '../lib/stats.js';
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
  /** the same floor with its loops spread over each second, as the reporter's checks are, instead of one burst */
  spreadFloorCpuPercentOfOneCore: number | undefined;
  rssMb: number;
  seconds: number;
}

/**
 * Reporter cost: `services` x 5 ports, an HTTP check each every second
 * against real local HTTP servers, registered in ZooKeeper. Measures the
 * reporter's CPU share (of one core) and RSS once everything is registered.
 */
export async function reporterCost(context: BenchContext, services: number, seconds: number, portsPerService = 5): Promise<ReporterResult> {
  const base = '/bench/reporter';
  const backends = await startBackends(services * portsPerService, 'health');
  const dir = join(context.root, 'reporter');
  const configDir = join(dir, 'config');
  await mkdir(join(configDir, 'discovery'), { recursive: true });
  await mkdir(join(configDir, 'services'), { recursive: true });
  await writeFile(join(configDir, 'discovery', 'zk.yaml'), stringify({ plugin: 'zookeeper', hosts: context.zk.hosts, path: base }));
  await writeFile(join(configDir, 'logging.yaml'), stringify({ level: 'warn', format: 'json' }));
  for (let s = 0; s < services; s += 1) {
    const ports = backends.ports.slice(s * portsPerService, (s + 1) * portsPerService);
    await writeFile(
      join(configDir, 'services', `svc${s}.yaml`),
      stringify({ discovery: 'zk', ports, advertise: { host: 'reporter.bench', ip: '127.0.0.1' }, checks: { interval: 1, http: { uri: '/health', rise: 1, fall: 2 } } }),
    );
  }
  const [metricsPort] = await freePorts(1);
  const started = performance.now();
  const child = spawnReporter(configDir, join(dir, 'reporter.log'), ['--metrics-port', String(metricsPort)]);
  const total = services * portsPerService;
  try {
    let registered = 0;
    let registerMs: number | undefined;
    try {
      await waitUntil(
        async () => {
          const counts = await Promise.all(
            Array.from({ length: services }, (_, s) =>
              context.client.getChildren(`${base}/svc${s}`).then(
                (answer) => answer.children.length,
                () => 0,
              ),
            ),
          );
          registered = counts.reduce((sum, count) => sum + count, 0);
          return registered >= total;
        },
        `${total} ports to be registered`,
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
    const checksPerSecond = (checksAfter - checksBefore) / ((performance.now() - measuredFrom) / 1000);
    await stopDaemon(child);
    const floor = await socketFloor(context, backends.ports, seconds, false);
    const spreadFloor = await socketFloor(context, backends.ports, seconds, true);
    return {
      services,
      portsPerService,
      checksPerSecond: round(checksPerSecond, 0),
      registered,
      registerMs: registerMs === undefined ? undefined : round(registerMs, 0),
      cpuPercentOfOneCore: round(usage.cpuPercent, 2),
      kernelPercentOfOneCore: round(usage.kernelPercent, 2),
      floorCpuPercentOfOneCore: floor === undefined ? undefined : round(floor.cpuPercent, 2),
      floorKernelPercentOfOneCore: floor === undefined ? undefined : round(floor.kernelPercent, 2),
      spreadFloorCpuPercentOfOneCore: spreadFloor === undefined ? undefined : round(spreadFloor.cpuPercent, 2),
      rssMb: round(usage.rssMb, 1),
      seconds,
    };
  } finally {
    await stopDaemon(child);
    await stopChild(backends.child);
  }
}

/** Runs bench/socket-floor.ts against `ports` and measures its CPU after a second of warm-up. */
async function socketFloor(context: BenchContext, ports: readonly number[], seconds: number, spread: boolean): Promise<{ cpuPercent: number; kernelPercent: number } | undefined> {
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
