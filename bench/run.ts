/**
 * `npm run bench [-- --quick] [-- --json]`: Lighthouse's benchmark.
 * Real ZooKeeper, real HAProxy run by the real writer (`lighthouse writer`
 * as a child process, the way users run it), real HTTP backends, wrk on
 * 127.0.0.1. Two modes in the same run: lighthouse (runtime API) and classic
 * (`update_strategy: reload`, the original's reload on every change).
 * Everything it starts is killed on the way out, also on failure or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectClient, ZookeeperCluster } from '../test/support/zookeeper.js';
import type { ZkClient } from '../src/discovery/zookeeper/zk-client.js';
import type { BenchContext } from './lib/context.js';
import { cleanupAll, killAllNow } from './lib/procs.js';
import { round } from './lib/stats.js';
import { convergence, type ConvergenceResult } from './scenarios/convergence.js';
import { backendDeath, churn, type BackendDeathResult, type ChurnResult } from './scenarios/churn.js';
import { interleavedOrder, scale, type ScaleResult } from './scenarios/scale.js';
import { reporterAb, reporterCost, type ReporterAbResult, type ReporterResult } from './scenarios/reporter.js';
import { fleet, type FleetResult } from './scenarios/fleet.js';
import { watchFloor, type WatchFloorResult } from './scenarios/watch-floor.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const only = process.argv.slice(2).find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (name: string): boolean => !only || only.includes(name);

const log = (message: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** Sizes: quick finishes in a few minutes on 2 cores; the full run is what docs/benchmarks.md reports. */
// Scale runs both modes interleaved on the same znodes, A B B A then B A A B (full: a third round A B B A): the cold-start
// ratio (sync_10k_ms / classic_sync_10k_ms, medians) must not measure which mode ran first.
// Fleet: K simulated writers per step; a failed step ends the fleet series (see docs/benchmarks.md). The classic
// strategy stops at K=300: it reads the whole 100-node cluster on every change (100 x K reads), which at K=1,000
// keeps two cores saturated for ~25 s per change.
const plan = quick
  ? { dashboardChanges: 100, convChanges: 200, classicConvChanges: 10, churnSeconds: 10, idleSeconds: 5, scaleRounds: 2, reporterServices: 50, reporterSeconds: 10, deathSeconds: 6, fleetK: [50], fleetChanges: 20, fleetClassicK: [50], fleetClassicChanges: 10 }
  : { dashboardChanges: 200, convChanges: 400, classicConvChanges: 40, churnSeconds: 30, idleSeconds: 30, scaleRounds: 3, reporterServices: 200, reporterSeconds: 30, deathSeconds: 10, fleetK: [100, 300, 1000], fleetChanges: 200, fleetClassicK: [100, 300], fleetClassicChanges: 20 };

// --fleet-k=100,300 / --fleet-classic-k=100 (empty: none) run only those fleet sizes, e.g. to rerun one step.
const listArg = (name: string): number[] | undefined => {
  const value = process.argv.slice(2).find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  return value === undefined ? undefined : value.split(',').filter(Boolean).map(Number).filter((k) => Number.isInteger(k) && k > 0);
};
plan.fleetK = listArg('fleet-k') ?? plan.fleetK;
plan.fleetClassicK = listArg('fleet-classic-k') ?? plan.fleetClassicK;
// --only=reporter-ab: B is another build (--reporter-b-cli=DIR/dist/cli/main.js) and/or other node options
// (--reporter-b-node-args="--max-semi-space-size=64"); A is this checkout's build with BENCH_NODE_ARGS.
const textArg = (name: string): string | undefined => process.argv.slice(2).find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const reporterB = { cli: textArg('reporter-b-cli'), nodeArgs: textArg('reporter-b-node-args')?.split(' ').filter(Boolean) };
/** `--only=reporter-ab` runs at the full size in quick runs too: its question is the 1,000 checks/s of the target. */
const REPORTER_AB_SERVICES = 200;

interface Results {
  convergence: ConvergenceResult[];
  /** the same-cluster convergence with the removal guard off, then on */
  guard: ConvergenceResult[];
  churn: ChurnResult[];
  scale: ScaleResult[];
  backendDeath?: BackendDeathResult;
  reporter?: ReporterResult;
  reporterAb?: ReporterAbResult;
  dashboardLoad?: DashboardLoadResult;
  /** the bare ZooKeeper watch time, the floor of convergence */
  floor?: WatchFloorResult;
  fleet: FleetResult[];
  failures: string[];
}

/** Looping /api/state clients in the dashboard-load variant (#11.9 saw 10 raise watch->apply from 2-4 ms to 0.5-1.1 s). */
const DASHBOARD_READERS = 10;

/** The same-cluster convergence run twice, without and with dashboard readers; ratios are with / without. */
interface DashboardLoadResult {
  readers: number;
  without: ConvergenceResult;
  with: ConvergenceResult;
  p50Ratio: number | null;
  p99Ratio: number | null;
  applyP99Ratio: number | null;
}

function machine(zkVersion: string): Record<string, unknown> {
  const haproxy = (() => {
    try {
      return /HAProxy version (\S+)/.exec(execFileSync('haproxy', ['-v'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGb: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    haproxy,
    zookeeper: zkVersion,
    loadAverageAtStart: loadavg().map((value) => round(value, 2)),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const root = await mkdtemp(join(tmpdir(), 'lighthouse-bench-'));
  benchRoot = root;
  let zk: ZookeeperCluster | undefined;
  let client: ZkClient | undefined;
  const results: Results = { convergence: [], guard: [], churn: [], scale: [], fleet: [], failures: [] };
  let info: Record<string, unknown> = {};
  try {
    log(`${quick ? 'quick' : 'full'} run; temp dir ${root}`);
    zk = await ZookeeperCluster.start({ tickTime: 500 });
    client = await connectClient(zk.connectString);
    const zkVersion = (await zk.mntr(1)).zk_version?.split(',')[0]?.split('-')[0] ?? 'unknown';
    info = machine(zkVersion);
    const context: BenchContext = { quick, zk, client, root, log };

    const step = async <T>(name: string, run: () => Promise<T>, keep: (value: T) => void): Promise<void> => {
      log(`${name}: running`);
      const t0 = Date.now();
      try {
        const value = await run();
        keep(value);
        log(`${name}: done in ${round((Date.now() - t0) / 1000, 1)} s: ${JSON.stringify(value)}`);
      } catch (error) {
        results.failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
        log(`${name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    };

    if (wanted('convergence')) {
      await step('convergence lighthouse (1,000 nodes in the cluster)', () => convergence(context, 'lighthouse', plan.convChanges, 'same-cluster'), (r) => results.convergence.push(r));
      await step('convergence lighthouse (1,000 nodes in another cluster)', () => convergence(context, 'lighthouse', plan.convChanges, 'other-cluster'), (r) => results.convergence.push(r));
      await step('convergence classic (1,000 nodes in another cluster)', () => convergence(context, 'classic', plan.classicConvChanges, 'other-cluster'), (r) => results.convergence.push(r));
      await step('convergence floor (bare ZooKeeper watch, 1,000 children)', () => watchFloor(context, plan.convChanges), (r) => (results.floor = r));
    }
    // Opt-in: two more 1,000-node runs; full runs stay comparable with earlier ones.
    if (only?.includes('convergence-dashboard')) {
      let without: ConvergenceResult | undefined;
      await step('convergence lighthouse, no dashboard readers', () => convergence(context, 'lighthouse', plan.dashboardChanges, 'same-cluster'), (r) => (without = r));
      await step(`convergence lighthouse, ${DASHBOARD_READERS} looping dashboard readers`, () => convergence(context, 'lighthouse', plan.dashboardChanges, 'same-cluster', { dashboardReaders: DASHBOARD_READERS }), (r) => {
        if (!without) return;
        const ratio = (a: number | undefined, b: number | undefined): number | null => (a === undefined || b === undefined || !(b > 0) ? null : round(a / b, 2));
        results.dashboardLoad = {
          readers: DASHBOARD_READERS,
          without,
          with: r,
          p50Ratio: ratio(r.all.p50, without.all.p50),
          p99Ratio: ratio(r.all.p99, without.all.p99),
          applyP99Ratio: ratio(r.breakdown.applyMs.p99, without.breakdown.applyMs.p99),
        };
      });
    }
    // Opt-in too: removal guard off vs on, one after the other in the same run: a single removal must cost nothing more.
    if (only?.includes('guard')) {
      await step('convergence lighthouse, removal guard off', () => convergence(context, 'lighthouse', plan.convChanges, 'same-cluster', { removalGuard: false }), (r) => results.guard.push(r));
      await step('convergence lighthouse, removal guard on', () => convergence(context, 'lighthouse', plan.convChanges, 'same-cluster', { removalGuard: true }), (r) => results.guard.push(r));
    }
    if (wanted('churn')) {
      await step('churn lighthouse', () => churn(context, 'lighthouse', plan.churnSeconds), (r) => results.churn.push(r));
      await step('churn classic', () => churn(context, 'classic', plan.churnSeconds), (r) => results.churn.push(r));
    }
    if (wanted('death')) await step('backend SIGKILL', () => backendDeath(context, plan.deathSeconds), (r) => (results.backendDeath = r));
    if (wanted('scale')) {
      const order = interleavedOrder(plan.scaleRounds);
      await step(`scale (${order.join(' ')})`, () => scale(context, order, plan.idleSeconds), (r) => results.scale.push(...r));
    }
    if (wanted('reporter')) await step('reporter', () => reporterCost(context, plan.reporterServices, plan.reporterSeconds), (r) => (results.reporter = r));
    // Opt-in: two reporter builds or flags, interleaved in one run.
    if (only?.includes('reporter-ab')) {
      await step(`reporter A/B (B: ${JSON.stringify(reporterB)})`, () => reporterAb(context, REPORTER_AB_SERVICES, plan.reporterSeconds, reporterB), (r) => (results.reporterAb = r));
    }
    if (wanted('fleet')) {
      // Shipped and classic strategies alternate per K, so both see the same machine at each size.
      for (const k of [...new Set([...plan.fleetK, ...plan.fleetClassicK])].sort((a, b) => a - b)) {
        const before = results.failures.length;
        if (plan.fleetK.includes(k)) await step(`fleet lighthouse K=${k}`, () => fleet(context, 'lighthouse', k, plan.fleetChanges, true), (r) => results.fleet.push(r));
        if (plan.fleetClassicK.includes(k)) await step(`fleet classic K=${k}`, () => fleet(context, 'classic', k, plan.fleetClassicChanges, true), (r) => results.fleet.push(r));
        if (results.failures.length > before) {
          log(`fleet: stopping at K=${k} (it failed; a larger K would not get further on this machine)`);
          break;
        }
      }
    }
  } finally {
    await client?.close().catch(() => undefined);
    await cleanupAll();
    await zk?.stop().catch(() => undefined);
    // BENCH_KEEP=1 keeps the temp dir (writer logs, HAProxy configs) for a look afterwards.
    if (!process.env.BENCH_KEEP) await rm(root, { recursive: true, force: true }).catch(() => undefined);
  }

  info.loadAverageAtEnd = loadavg().map((value) => round(value, 2));
  const headline = summarize(results);
  const report = { kind: quick ? 'quick' : 'full', date: new Date(started).toISOString(), durationSeconds: round((Date.now() - started) / 1000, 0), machine: info, headline, results };
  // Full runs are kept with the repository (docs/benchmarks.md cites them); quick runs go to the temp dir.
  const dir = quick ? tmpdir() : fileURLToPath(new URL('./results/', import.meta.url));
  await mkdir(dir, { recursive: true });
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const file = join(dir, quick ? `lighthouse-bench-${stamp}-quick.json` : `${stamp}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`results written to ${file}`);
  if (!json || !quick) process.stderr.write(`${table(results, info)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(headline)}\n`);
  if (results.failures.length > 0) process.exitCode = 1;
}

const num = (value: number | undefined): number | null => (value === undefined || !Number.isFinite(value) ? null : round(value, 2));

function summarize(results: Results): Record<string, number | null | (number | null)[]> {
  const conv = (mode: string) => results.convergence.find((r) => r.mode === mode && r.layout === 'same-cluster') ?? results.convergence.find((r) => r.mode === mode);
  const other = (mode: string) => results.convergence.find((r) => r.mode === mode && r.layout === 'other-cluster');
  const ch = (mode: string) => results.churn.find((r) => r.mode === mode);
  const sc = (mode: string) => results.scale.find((r) => r.mode === mode);
  return {
    convergence_p50_ms: num(conv('lighthouse')?.all.p50),
    convergence_p99_ms: num(conv('lighthouse')?.all.p99),
    convergence_add_p99_ms: num(conv('lighthouse')?.add.p99),
    convergence_remove_p99_ms: num(conv('lighthouse')?.remove.p99),
    convergence_changes: num(conv('lighthouse')?.changes),
    zk_requests_per_change: num(conv('lighthouse')?.zkRequestsPerChange),
    convergence_other_cluster_p50_ms: num(other('lighthouse')?.all.p50),
    convergence_other_cluster_p99_ms: num(other('lighthouse')?.all.p99),
    classic_convergence_p50_ms: num(conv('classic')?.all.p50),
    classic_convergence_p99_ms: num(conv('classic')?.all.p99),
    churn_requests: num(ch('lighthouse')?.requests),
    churn_errors: num(ch('lighthouse')?.errors),
    churn_errors_keepalive: num(ch('lighthouse')?.keepAlive.errors),
    churn_errors_close: num(ch('lighthouse')?.close.errors),
    reloads_during_churn: num(ch('lighthouse')?.reloads),
    classic_churn_requests: num(ch('classic')?.requests),
    classic_churn_errors: num(ch('classic')?.errors),
    classic_reloads_during_churn: num(ch('classic')?.reloads),
    sync_10k_ms: num(sc('lighthouse')?.syncMs),
    sync_10k_samples_ms: sc('lighthouse')?.syncSamplesMs ?? null,
    writer_rss_mb_10k: num(sc('lighthouse')?.rssMb),
    writer_idle_cpu_pct_10k: num(sc('lighthouse')?.idleCpuPercent),
    writer_idle_main_thread_cpu_pct_10k: num(sc('lighthouse')?.idleMainThreadCpuPercent),
    classic_sync_10k_ms: num(sc('classic')?.syncMs),
    classic_sync_10k_samples_ms: sc('classic')?.syncSamplesMs ?? null,
    backend_kill_errors: num(results.backendDeath?.errors),
    backend_kill_in_flight: num(results.backendDeath?.inFlightAtKill),
    reporter_checks_per_s: num(results.reporter?.checksPerSecond),
    reporter_cpu_pct: num(results.reporter?.cpuPercentOfOneCore),
    reporter_kernel_cpu_pct: num(results.reporter?.kernelPercentOfOneCore),
    reporter_floor_cpu_pct: num(results.reporter?.floorCpuPercentOfOneCore),
    reporter_spread_floor_cpu_pct: num(results.reporter?.spreadFloorCpuPercentOfOneCore),
    reporter_rss_mb: num(results.reporter?.rssMb),
    reporter_wakeups_per_s: num(results.reporter?.wakeupsPerSecond),
    reporter_floor_wakeups_per_s: num(results.reporter?.floorWakeupsPerSecond),
    reporter_spread_floor_wakeups_per_s: num(results.reporter?.spreadFloorWakeupsPerSecond),
    reporter_ab_a_cpu_pct: num(results.reporterAb?.aCpuPercent),
    reporter_ab_b_cpu_pct: num(results.reporterAb?.bCpuPercent),
    reporter_ab_floor_cpu_pct: num(results.reporterAb?.floorCpuPercent),
    reporter_ab_spread_floor_cpu_pct: num(results.reporterAb?.spreadFloorCpuPercent),
    dashboard_load_convergence_p50_ratio: num(results.dashboardLoad?.p50Ratio ?? undefined),
    dashboard_load_convergence_p99_ratio: num(results.dashboardLoad?.p99Ratio ?? undefined),
    dashboard_load_reads: num(results.dashboardLoad?.with.dashboardReads),
    dashboard_load_stat_reads: num(results.dashboardLoad?.with.statReads ?? undefined),
    guard_off_convergence_p50_ms: num(results.guard.find((r) => !r.removalGuard)?.all.p50),
    guard_off_convergence_p99_ms: num(results.guard.find((r) => !r.removalGuard)?.all.p99),
    guard_on_convergence_p50_ms: num(results.guard.find((r) => r.removalGuard)?.all.p50),
    guard_on_convergence_p99_ms: num(results.guard.find((r) => r.removalGuard)?.all.p99),
    convergence_floor_p50_ms: num(results.floor?.watch.p50),
    convergence_floor_p99_ms: num(results.floor?.watch.p99),
    convergence_floor_list_p99_ms: num(results.floor?.watchAndList.p99),
    convergence_paired_floor_p50_ms: num(sameCluster(results)?.pairedFloor?.watch.p50),
    convergence_paired_floor_p99_ms: num(sameCluster(results)?.pairedFloor?.watch.p99),
    convergence_beyond_watch_p50_ms: num(sameCluster(results)?.pairedFloor?.beyondWatch.p50),
    convergence_beyond_watch_p99_ms: num(sameCluster(results)?.pairedFloor?.beyondWatch.p99),
    ...ratios(results),
    ...fleetKeys(results.fleet),
    failures: results.failures.length,
  };
}

function sameCluster(results: Results): ConvergenceResult | undefined {
  return results.convergence.find((r) => r.mode === 'lighthouse' && r.layout === 'same-cluster');
}

/** Part 5 of issue 15: the single-writer targets, as ratios of figures taken in the same run. */
function ratios(results: Results): Record<string, number | null> {
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null || !Number.isFinite(a) || !(b > 0) ? null : round(a / b, 2));
  const same = results.convergence.find((r) => r.mode === 'lighthouse' && r.layout === 'same-cluster');
  const sc = (mode: string) => results.scale.find((r) => r.mode === mode);
  return {
    // target <= 1: cold start not slower than classic
    sync_10k_vs_classic_ratio: ratio(sc('lighthouse')?.syncMs, sc('classic')?.syncMs),
    // target <= 2: convergence p99 within 2x the bare watch's p99
    convergence_vs_floor_p99_ratio: ratio(same?.all.p99, results.floor?.watch.p99),
    // target <= 1.3: reporter CPU within 1.3x the same sockets doing nothing else
    reporter_vs_floor_cpu_ratio: ratio(results.reporter?.cpuPercentOfOneCore, results.reporter?.floorCpuPercentOfOneCore),
    reporter_vs_spread_floor_cpu_ratio: ratio(results.reporter?.cpuPercentOfOneCore, results.reporter?.spreadFloorCpuPercentOfOneCore),
    // --only=reporter-ab: medians of the same run
    reporter_ab_b_vs_a_cpu_ratio: ratio(results.reporterAb?.bCpuPercent, results.reporterAb?.aCpuPercent),
    reporter_ab_a_vs_floor_cpu_ratio: ratio(results.reporterAb?.aCpuPercent, results.reporterAb?.floorCpuPercent),
    reporter_ab_b_vs_floor_cpu_ratio: ratio(results.reporterAb?.bCpuPercent, results.reporterAb?.floorCpuPercent),
  };
}

/** Headline fleet keys at the largest K the shipped strategy reached, per-K keys, and the classic strategy's. */
function fleetKeys(fleetResults: readonly FleetResult[]): Record<string, number | null> {
  const keys: Record<string, number | null> = {};
  const put = (prefix: string, r: FleetResult | undefined): void => {
    keys[`${prefix}writers`] = num(r?.writers);
    keys[`${prefix}convergence_p50_ms`] = num(r?.convergence.p50);
    keys[`${prefix}convergence_p99_ms`] = num(r?.convergence.p99);
    keys[`${prefix}convergence_max_ms`] = num(r?.convergence.max);
    keys[`${prefix}zk_requests_per_change_per_writer`] = num(r?.zkRequestsPerChangePerWriter);
    keys[`${prefix}recovery_ms`] = num(r?.restart?.recoveryMs ?? undefined);
    keys[`${prefix}restart_downtime_ms`] = num(r?.restart?.downtimeMs ?? undefined);
    keys[`${prefix}peak_requests_per_s`] = num(r?.restart?.peakRequestsPerSecond);
    keys[`${prefix}zk_latency_p99_ms`] = num(r?.restart?.zkReadLatencyP99Ms);
    keys[`${prefix}expiry_recovery_ms`] = num(r?.expiry?.recoveryMs ?? undefined);
    keys[`${prefix}expiry_peak_requests_per_s`] = num(r?.expiry?.peakRequestsPerSecond);
    keys[`${prefix}expiry_zk_latency_p99_ms`] = num(r?.expiry?.zkReadLatencyP99Ms);
    keys[`${prefix}expiry_reads_done_ms`] = num(r?.expiry?.settledMs ?? undefined);
    keys[`${prefix}expiry_reads_per_writer`] = num(r?.expiry?.readsPerWriter);
    keys[`${prefix}ensemble_cpu_pct`] = num(r?.ensembleCpuPercent);
    keys[`${prefix}rss_kb_per_writer`] = num(r?.rssKbPerWriter);
  };
  const largest = (strategy: string): FleetResult | undefined => fleetResults.filter((r) => r.strategy === strategy).sort((a, b) => b.writers - a.writers)[0];
  put('fleet_', largest('lighthouse'));
  put('classic_fleet_', largest('classic'));
  for (const r of fleetResults) {
    const prefix = `${r.strategy === 'classic' ? 'classic_' : ''}fleet_k${r.writers}_`;
    keys[`${prefix}convergence_p99_ms`] = num(r.convergence.p99);
    keys[`${prefix}zk_requests_per_change_per_writer`] = num(r.zkRequestsPerChangePerWriter);
    keys[`${prefix}recovery_ms`] = num(r.restart?.recoveryMs ?? undefined);
    keys[`${prefix}expiry_recovery_ms`] = num(r.expiry?.recoveryMs ?? undefined);
    keys[`${prefix}peak_requests_per_s`] = num(r.restart?.peakRequestsPerSecond);
  }
  return keys;
}

function table(results: Results, info: Record<string, unknown>): string {
  const rows: [string, string, string][] = [];
  const fmt = (value: number | null | undefined, unit = ''): string => (value === null || value === undefined || !Number.isFinite(value) ? 'n/a' : `${value}${unit}`);
  const conv = (mode: string) => results.convergence.find((r) => r.mode === mode && r.layout === 'other-cluster');
  const same = results.convergence.find((r) => r.mode === 'lighthouse' && r.layout === 'same-cluster');
  const ch = (mode: string) => results.churn.find((r) => r.mode === mode);
  const sc = (mode: string) => results.scale.find((r) => r.mode === mode);
  rows.push(['convergence, 1,000 nodes in the cluster: p50 / p99 (ms)', `${fmt(same?.all.p50)} / ${fmt(same?.all.p99)} (n=${fmt(same?.all.n)})`, 'n/a (reloads reset weights)']);
  rows.push(['  ZooKeeper requests per change', fmt(num(same?.zkRequestsPerChange)), '']);
  const both = (label: string, pick: (mode: string) => string): void => void rows.push([label, pick('lighthouse'), pick('classic')]);
  both('convergence, 1,000 nodes in another cluster: p50 / p99 (ms)', (m) => `${fmt(conv(m)?.all.p50)} / ${fmt(conv(m)?.all.p99)} (n=${fmt(conv(m)?.all.n)})`);
  both('  add p50 / p99 (ms)', (m) => `${fmt(conv(m)?.add.p50)} / ${fmt(conv(m)?.add.p99)}`);
  both('  remove p50 / p99 (ms)', (m) => `${fmt(conv(m)?.remove.p50)} / ${fmt(conv(m)?.remove.p99)}`);
  both('  ZooKeeper requests per change', (m) => fmt(num(conv(m)?.zkRequestsPerChange)));
  both('  acknowledgement writes per change (changes < 1 s apart coalesce)', (m) => fmt(num(conv(m)?.ackWritesPerChange ?? undefined)));
  for (const run of results.guard) {
    rows.push([`removal guard ${run.removalGuard ? 'on' : 'off'}: convergence p50 / p99, remove p99 (ms)`, `${fmt(num(run.all.p50))} / ${fmt(num(run.all.p99))}, ${fmt(num(run.remove.p99))} (n=${fmt(run.all.n)})`, '']);
  }
  both('churn: requests', (m) => fmt(ch(m)?.requests));
  both('churn: failed (keep-alive / close)', (m) => `${fmt(ch(m)?.keepAlive.errors)} / ${fmt(ch(m)?.close.errors)}`);
  both('churn: changes / HAProxy reloads', (m) => `${fmt(ch(m)?.changes)} / ${fmt(ch(m)?.reloads)}`);
  both('10,000 servers routable after (ms): median (every run)', (m) => `${fmt(sc(m)?.syncMs)} (${(sc(m)?.syncSamplesMs ?? []).map((ms) => fmt(ms)).join(', ')})`);
  rows.push(['  runs in order; lighthouse / classic medians', `${scaleOrder(results.scale)}; ratio ${fmt(ratios(results).sync_10k_vs_classic_ratio)}`, '']);
  both('writer RSS at 10k (MB)', (m) => fmt(sc(m)?.rssMb));
  both('writer idle CPU at 10k (%): all threads (main thread)', (m) => `${fmt(sc(m)?.idleCpuPercent)} (${fmt(sc(m)?.idleMainThreadCpuPercent)})`);
  rows.push(['backend SIGKILL: failed / in flight', `${fmt(results.backendDeath?.errors)} / ${fmt(results.backendDeath?.inFlightAtKill)} of ${fmt(results.backendDeath?.requests)}`, '']);
  rows.push([
    'reporter: checks/s, CPU % (kernel part), RSS MB',
    `${fmt(results.reporter?.checksPerSecond)}, ${fmt(results.reporter?.cpuPercentOfOneCore)} (${fmt(results.reporter?.kernelPercentOfOneCore)}), ${fmt(results.reporter?.rssMb)}`,
    '',
  ]);
  rows.push([
    '  same connections, nothing else: CPU % (kernel part); spread over each second like the checks',
    `${fmt(results.reporter?.floorCpuPercentOfOneCore)} (${fmt(results.reporter?.floorKernelPercentOfOneCore)}); ${fmt(results.reporter?.spreadFloorCpuPercentOfOneCore)}`,
    '',
  ]);
  rows.push([
    '  main-thread wake-ups/s: reporter; floor, spread floor',
    `${fmt(results.reporter?.wakeupsPerSecond)}; ${fmt(results.reporter?.floorWakeupsPerSecond)}, ${fmt(results.reporter?.spreadFloorWakeupsPerSecond)}`,
    '',
  ]);
  const ab = results.reporterAb;
  if (ab) {
    rows.push(['reporter A / B: CPU % (medians); floor, spread floor', `${fmt(ab.aCpuPercent)} / ${fmt(ab.bCpuPercent)}; ${fmt(ab.floorCpuPercent)}, ${fmt(ab.spreadFloorCpuPercent)}`, '']);
    rows.push(['  steps in order: CPU % (wake-ups/s)', ab.steps.map((s) => `${s.what === 'floor' ? 'F' : s.what === 'spread floor' ? 'Fs' : s.what} ${fmt(s.cpuPercent)} (${fmt(s.wakeupsPerSecond)})`).join(', '), '']);
  }
  if (results.floor) rows.push(['bare ZooKeeper watch (floor): p50 / p99 (ms); with re-list p99', `${fmt(results.floor.watch.p50)} / ${fmt(results.floor.watch.p99)}; ${fmt(results.floor.watchAndList.p99)}`, '']);
  const paired = sameCluster(results)?.pairedFloor;
  if (paired) rows.push(['bare watch on the same changes (paired floor): p50 / p99 (ms); convergence beyond it p50 / p99', `${fmt(paired.watch.p50)} / ${fmt(paired.watch.p99)}; ${fmt(paired.beyondWatch.p50)} / ${fmt(paired.beyondWatch.p99)}`, '']);
  for (const k of [...new Set(results.fleet.map((r) => r.writers))]) {
    const f = (strategy: string) => results.fleet.find((r) => r.writers === k && r.strategy === strategy);
    both(`fleet K=${k}: convergence p50 / p99 / max (ms)`, (m) => `${fmt(f(m)?.convergence.p50)} / ${fmt(f(m)?.convergence.p99)} / ${fmt(f(m)?.convergence.max)}`);
    both('  requests per change per writer (client) / packets (server)', (m) => `${fmt(f(m)?.zkRequestsPerChangePerWriter)} / ${fmt(f(m)?.zkPacketsPerChangePerWriter)}`);
    both('  ensemble CPU % / read p99 / max latency (ms)', (m) => `${fmt(f(m)?.ensembleCpuPercent)} / ${fmt(f(m)?.zkReadLatencyP99Ms)} / ${fmt(f(m)?.zkMaxLatencyMs)}`);
    both('  RSS / heap per writer (KB); simulator CPU per change (ms, all writers)', (m) => `${fmt(f(m)?.rssKbPerWriter)} / ${fmt(f(m)?.heapKbPerWriter)}; ${fmt(f(m)?.simulatorCpuMsPerChange)}`);
    both('  ensemble restart: recovered / down (ms), peak req/s, read p99 (ms)', (m) => `${fmt(f(m)?.restart?.recoveryMs)} / ${fmt(f(m)?.restart?.downtimeMs)}, ${fmt(f(m)?.restart?.peakRequestsPerSecond)}, ${fmt(f(m)?.restart?.zkReadLatencyP99Ms)}`);
    both('  all sessions expired: recovered / reads done (ms), peak req/s, read p99 (ms), reads/writer', (m) => `${fmt(f(m)?.expiry?.recoveryMs)} / ${fmt(f(m)?.expiry?.settledMs)}, ${fmt(f(m)?.expiry?.peakRequestsPerSecond)}, ${fmt(f(m)?.expiry?.zkReadLatencyP99Ms)}, ${fmt(f(m)?.expiry?.readsPerWriter)}`);
  }
  const dash = results.dashboardLoad;
  if (dash) {
    rows.push([
      `convergence under ${dash.readers} looping dashboard readers: p50 / p99 (ms)`,
      `${fmt(dash.with.all.p50)} / ${fmt(dash.with.all.p99)} vs ${fmt(dash.without.all.p50)} / ${fmt(dash.without.all.p99)} without (x${fmt(dash.p50Ratio)} / x${fmt(dash.p99Ratio)})`,
      '',
    ]);
    rows.push(['  /api/state answers / show stat sent', `${fmt(dash.with.dashboardReads)} / ${fmt(dash.with.statReads)}`, '']);
  }
  const width = [Math.max(...rows.map((r) => r[0].length)), Math.max(10, ...rows.map((r) => r[1].length))];
  const lines = [`machine: ${JSON.stringify(info)}`, '', `${'scenario'.padEnd(width[0]!)}  ${'lighthouse'.padEnd(width[1]!)}  classic`];
  for (const [label, a, b] of rows) lines.push(`${label.padEnd(width[0]!)}  ${a.padEnd(width[1]!)}  ${b}`);
  if (results.failures.length > 0) lines.push('', 'FAILED:', ...results.failures.map((failure) => `  ${failure}`));
  return lines.join('\n');
}

/** "L C C L": the scale runs in the order they ran. */
function scaleOrder(scale: readonly ScaleResult[]): string {
  return scale.flatMap((r) => r.positions.map((position) => ({ position, mode: r.mode })))
    .sort((a, b) => a.position - b.position)
    .map((run) => (run.mode === 'lighthouse' ? 'L' : 'C'))
    .join(' ');
}

let benchRoot: string | undefined;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping everything the benchmark started`);
    void cleanupAll().finally(() => process.exit(130));
  });
}
// The ZooKeeper harness exits at once on SIGINT/SIGTERM (after killing its JVMs);
// whatever path leads to exit, nothing the benchmark started may survive it.
process.on('exit', () => {
  killAllNow();
  if (!process.env.BENCH_KEEP && benchRoot) rmSync(benchRoot, { recursive: true, force: true });
});

main().catch((error: unknown) => {
  log(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
