import { freePorts } from '../../test/support/ports.js';
import { startBackends } from '../lib/backends.js';
import { cpuPercentOver, startWriter, type BenchContext, type Mode } from '../lib/context.js';
import { readLog, reloadsBetween } from '../lib/lighthouse.js';
import { Prober } from '../lib/probe.js';
import { sampleProcess, sleep, stopChild, waitUntil } from '../lib/procs.js';
import { round } from '../lib/stats.js';
import { metricValue } from '../lib/metrics.js';
import { createNodes } from '../lib/zk.js';

export interface ScaleResult {
  mode: Mode;
  clusters: number;
  nodesPerCluster: number;
  /** writer process spawned -> every server routable in HAProxy (`show servers state`: ready and running) */
  syncMs: number | undefined;
  /** reloads the writer logged while getting there */
  reloadsToConverge: number;
  rssMb: number;
  /** V8 heap in use / reserved after the idle period: how much of the RSS is live data */
  heapUsedMb: number;
  heapTotalMb: number;
  idleSeconds: number;
  idleCpuPercent: number;
  /** RSS every 5 s while idle, by seconds since the writer started */
  rssTimeline: { secondsSinceStart: number; rssMb: number }[];
  /** a request through the meta-cluster frontend to the last cluster answered */
  spotCheck: boolean;
}

/**
 * Scale: 1,000 clusters of 10 nodes (one meta-cluster frontend with a path
 * ACL per cluster, so 1,000 clusters need one port). Times writer start to
 * all 10,000 servers routable, then the writer's RSS and idle CPU.
 */
export async function scale(context: BenchContext, mode: Mode, idleSeconds: number, clusters = 1000, perCluster = 10): Promise<ScaleResult> {
  const base = `/bench/scale-${mode}`;
  const backends = await startBackends(perCluster, 'scale');
  const members = [];
  for (let c = 0; c < clusters; c += 1) {
    for (let n = 0; n < perCluster; n += 1) members.push({ cluster: `c${c}`, node: { host: `c${c}n${n}.scale.bench`, port: backends.ports[n]! } });
  }
  context.log(`scale (${mode}): creating ${members.length} znodes`);
  await createNodes(context.client, base, members);
  const [metaPort] = await freePorts(1);
  const writer = await startWriter(context, `scale-${mode}`, {
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
      context.log(`scale (${mode}): ${String(error)}`);
    }
    const startedWall = Date.now() - (performance.now() - writer.startedAt);
    const reloadsToConverge = reloadsBetween(await readLog(writer.paths.logFile), startedWall, Date.now());
    const prober = new Prober(metaPort!);
    const spotCheck = (await prober.get(`/c${clusters - 1}/`))?.startsWith('scale') ?? false;
    prober.close();
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
      mode,
      clusters,
      nodesPerCluster: perCluster,
      syncMs: syncMs === undefined ? undefined : round(syncMs, 0),
      reloadsToConverge,
      rssMb: round(idle.rssMb, 1),
      heapUsedMb: round(heapUsed / 1024 ** 2, 1),
      heapTotalMb: round(heapTotal / 1024 ** 2, 1),
      idleSeconds,
      idleCpuPercent: round(idle.cpuPercent, 2),
      rssTimeline,
      spotCheck,
    };
  } catch (error) {
    throw await writer.explain(error);
  } finally {
    await writer.stop();
    await stopChild(backends.child);
  }
}
