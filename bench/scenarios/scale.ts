import { freePorts } from '../../test/support/ports.js';
import { startBackends } from '../lib/backends.js';
import { cpuPercentOver, startWriter, type BenchContext, type Mode } from '../lib/context.js';
import { readLog, reloadsBetween, type LogLine } from '../lib/lighthouse.js';
import { Prober } from '../lib/probe.js';
import { sampleProcess, sleep, stopChild, waitUntil } from '../lib/procs.js';
import { median, round } from '../lib/stats.js';
import { metricValue } from '../lib/metrics.js';
import { createNodes } from '../lib/zk.js';

/** One writer start in the series. */
export interface ScaleRun {
  mode: Mode;
  /** 1-based position in the series (A B B A ...); 0 is the untimed warm-up */
  position: number;
  /** writer process spawned -> every server routable in HAProxy (`show servers state`: ready and running); undefined: not within the deadline */
  syncMs: number | undefined;
  /** reloads the writer logged while getting there */
  reloadsToConverge: number;
  /** a request through the meta-cluster frontend to the last cluster answered */
  spotCheck: boolean;
  /** from the writer's log, ms since the spawn: ZooKeeper session up, HAProxy start logged (and that start's own ms) */
  phases: { zkConnectedMs: number | null; haproxyStartedMs: number | null; haproxyStartMs: number | null };
  /** runtime API commands the writer sent until routable, of them `show stat` reads, and runtime server changes */
  runtimeCommands: number | null;
  statReads: number | null;
  runtimeChanges: number | null;
  /** warnings and errors the writer logged until routable (an outlier says why), with the first one's message */
  errors: number;
  firstError?: string;
}

/** The idle figures, taken once per mode (after its first run). */
export interface ScaleIdle {
  rssMb: number;
  /** V8 heap in use / reserved after the idle period: how much of the RSS is live data */
  heapUsedMb: number;
  heapTotalMb: number;
  idleSeconds: number;
  /** every thread of the writer, as /proc counts it */
  idleCpuPercent: number;
  /**
   * the main thread alone: what a CPU profile (`--cpu-prof`) samples. The
   * difference is V8's helper threads (concurrent marking, sweeping,
   * parallel scavenges), which a profile does not show.
   */
  idleMainThreadCpuPercent: number;
  /** RSS every 5 s while idle, by seconds since the writer started */
  rssTimeline: { secondsSinceStart: number; rssMb: number }[];
}

/** One mode's figures over the series. */
export interface ScaleResult extends ScaleIdle {
  mode: Mode;
  clusters: number;
  nodesPerCluster: number;
  /** median of the runs that got there */
  syncMs: number | undefined;
  /** this mode's runs, in series order */
  runs: ScaleRun[];
  /** every run's syncMs in series order (null: did not get there) */
  syncSamplesMs: (number | null)[];
  /** positions of this mode's runs in the series */
  positions: number[];
  /** median of the runs' reloads */
  reloadsToConverge: number;
  /** every run's spot check passed */
  spotCheck: boolean;
}

/** A B B A: each mode once early and once late, so drift (disk cache, ZooKeeper's JIT, other load) falls on both. */
export function interleavedOrder(rounds: number): Mode[] {
  const order: Mode[] = [];
  for (let index = 0; index < rounds; index += 1) order.push(...(index % 2 === 0 ? (['lighthouse', 'classic', 'classic', 'lighthouse'] as const) : (['classic', 'lighthouse', 'lighthouse', 'classic'] as const)));
  return order;
}

/**
 * Scale: 1,000 clusters of 10 nodes (one meta-cluster frontend with a path
 * ACL per cluster, so 1,000 clusters need one port). Writers of both modes
 * start in `order` on the same znodes and the same backends; each run times
 * writer start to all 10,000 servers routable, after one untimed warm-up
 * start. The first run of each mode then measures the writer's RSS and idle CPU.
 */
export async function scale(context: BenchContext, order: readonly Mode[], idleSeconds: number, clusters = 1000, perCluster = 10): Promise<ScaleResult[]> {
  const base = '/bench/scale';
  const backends = await startBackends(perCluster, 'scale');
  try {
    const members = [];
    for (let c = 0; c < clusters; c += 1) {
      for (let n = 0; n < perCluster; n += 1) members.push({ cluster: `c${c}`, node: { host: `c${c}n${n}.scale.bench`, port: backends.ports[n]! } });
    }
    context.log(`scale: creating ${members.length} znodes; runs: ${order.join(' ')}`);
    await createNodes(context.client, base, members);
    // An untimed start first: the first writer to read fresh znodes was the slowest of a series
    // in most runs (up to 2x the next), whatever its mode.
    const warmup = await scaleRun(context, base, 'classic', 0, undefined, clusters, perCluster);
    context.log(`scale: warm-up run (classic, not counted): ${warmup.run.syncMs ?? 'n/a'} ms`);
    const runs: ScaleRun[] = [];
    const idle = new Map<Mode, ScaleIdle>();
    for (const [index, mode] of order.entries()) {
      const measureIdle = !idle.has(mode);
      const { run, idle: idleFigures } = await scaleRun(context, base, mode, index + 1, measureIdle ? idleSeconds : undefined, clusters, perCluster);
      context.log(`scale: run ${index + 1} (${mode}): ${run.syncMs ?? 'n/a'} ms, ${run.reloadsToConverge} reloads, ${JSON.stringify(run.phases)}, runtime commands ${run.runtimeCommands} (show stat ${run.statReads}), changes ${run.runtimeChanges}${run.firstError ? `, ${run.errors} warnings or errors logged, first: ${run.firstError}` : ''}`);
      runs.push(run);
      if (idleFigures) idle.set(mode, idleFigures);
    }
    return [...new Set(order)].map((mode) => {
      const mine = runs.filter((run) => run.mode === mode);
      const reached = mine.map((run) => run.syncMs).filter((ms): ms is number => ms !== undefined);
      return {
        mode,
        clusters,
        nodesPerCluster: perCluster,
        syncMs: reached.length > 0 ? round(median(reached), 0) : undefined,
        runs: mine,
        syncSamplesMs: mine.map((run) => run.syncMs ?? null),
        positions: mine.map((run) => run.position),
        reloadsToConverge: median(mine.map((run) => run.reloadsToConverge)),
        spotCheck: mine.every((run) => run.spotCheck),
        ...idle.get(mode)!,
      };
    });
  } finally {
    await stopChild(backends.child);
  }
}

async function scaleRun(context: BenchContext, base: string, mode: Mode, position: number, idleSeconds: number | undefined, clusters: number, perCluster: number): Promise<{ run: ScaleRun; idle?: ScaleIdle }> {
  const [metaPort] = await freePorts(1);
  const writer = await startWriter(context, `scale-${position}-${mode}`, {
    zkPath: base,
    mode,
    metaClusters: { all: { port: metaPort! } },
    clusters: Array.from({ length: clusters }, (_, c) => ({ name: `c${c}`, metaCluster: 'all', acl: `path_beg /c${c}/` })),
  });
  const total = clusters * perCluster;
  try {
    let syncMs: number | undefined;
    try {
      await waitUntil(
        async () => {
          let count = 0;
          for (const [backend, servers] of await writer.view.routableServers()) if (/^c\d+$/.test(backend)) count += servers.size;
          return count >= total;
        },
        `${total} servers to be routable`,
        mode === 'classic' ? 120_000 : 90_000,
        100,
      );
      syncMs = performance.now() - writer.startedAt;
    } catch (error) {
      context.log(`scale (${mode}, run ${position}): ${String(error)}`);
    }
    const counter = (name: string): Promise<number | null> => metricValue(writer.metricsPort, name).catch(() => null);
    const runtimeCommands = await counter('lighthouse_haproxy_runtime_commands_total');
    const statReads = await counter('lighthouse_haproxy_stat_reads_total');
    const runtimeChanges = await counter('lighthouse_haproxy_runtime_changes_total');
    const startedWall = Date.now() - (performance.now() - writer.startedAt);
    const lines = await readLog(writer.paths.logFile);
    const reloadsToConverge = reloadsBetween(lines, startedWall, Date.now());
    const at = (pattern: RegExp): LogLine | undefined => lines.find((line) => pattern.test(line.msg));
    const since = (line: LogLine | undefined): number | null => (line ? round(line.time - startedWall, 0) : null);
    const started = at(/^HAProxy started/);
    // Warnings too (a start that failed, a gate that gave up), but not the routine one before the first session.
    const errors = lines.filter((line) => line.level >= 40 && line.time >= startedWall && !/is connecting: keeping/.test(line.msg));
    const phases = {
      zkConnectedMs: since(at(/^discovery ".*" connected/)),
      haproxyStartedMs: since(started),
      haproxyStartMs: typeof started?.ms === 'number' ? started.ms : null,
    };
    const prober = new Prober(metaPort!);
    const spotCheck = (await prober.get(`/c${clusters - 1}/`))?.startsWith('scale') ?? false;
    prober.close();
    const run: ScaleRun = { mode, position, syncMs: syncMs === undefined ? undefined : round(syncMs, 0), reloadsToConverge, spotCheck, phases, runtimeCommands, statReads, runtimeChanges, errors: errors.length, ...(errors[0] ? { firstError: errors[0].msg.slice(0, 300) } : {}) };
    if (idleSeconds === undefined) return { run };
    // Let the background config write and GC settle, then measure idling.
    await sleep(3_000);
    // RSS every 5 s while idle: V8 gives the start-up burst's memory back only
    // once its memory reducer runs, some tens of seconds after start.
    const rssTimeline: { secondsSinceStart: number; rssMb: number }[] = [];
    const sampler = setInterval(() => {
      void sampleProcess(writer.child.pid!).then(
        (sample) => rssTimeline.push({ secondsSinceStart: round((performance.now() - writer.startedAt) / 1000, 0), rssMb: round(sample.rssMb, 1) }),
        () => undefined,
      );
    }, 5_000);
    const idle = await cpuPercentOver(writer.child.pid!, idleSeconds * 1000).finally(() => clearInterval(sampler));
    if (process.env.BENCH_HEAP_SNAPSHOT) {
      // With BENCH_NODE_ARGS="--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR": what the writer's heap holds.
      writer.child.kill('SIGUSR2');
      await sleep(15_000);
    }
    const heapUsed = await metricValue(writer.metricsPort, 'lighthouse_process_nodejs_heap_size_used_bytes').catch(() => Number.NaN);
    const heapTotal = await metricValue(writer.metricsPort, 'lighthouse_process_nodejs_heap_size_total_bytes').catch(() => Number.NaN);
    return {
      run,
      idle: {
        rssMb: round(idle.rssMb, 1),
        heapUsedMb: round(heapUsed / 1024 ** 2, 1),
        heapTotalMb: round(heapTotal / 1024 ** 2, 1),
        idleSeconds,
        idleCpuPercent: round(idle.cpuPercent, 2),
        idleMainThreadCpuPercent: round(idle.mainThreadPercent, 2),
        rssTimeline,
      },
    };
  } catch (error) {
    throw await writer.explain(error);
  } finally {
    await writer.stop();
  }
}
