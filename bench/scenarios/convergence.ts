import { freePorts } from '../../test/support/ports.js';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startBackends } from '../lib/backends.js';
import { startWriter, zkPackets, type BenchContext, type Mode } from '../lib/context.js';
import { Prober } from '../lib/probe.js';
import { readLog } from '../lib/lighthouse.js';
import { sleep, spawnTracked, stopChild, waitUntil } from '../lib/procs.js';
import { summary } from '../lib/stats.js';
import { createNode, createNodes, deleteNode, type BenchNode } from '../lib/zk.js';

/** Unmeasured changes before the measured ones (lighthouse mode). */
export const WARMUP_CHANGES = 20;

export interface ConvergenceResult {
  mode: Mode;
  /** the removal guard was on (its defaults) or switched off in the cluster files */
  removalGuard: boolean;
  /** the 1,000 nodes are in the probed cluster itself (weight 0), or in another cluster of the same writer */
  layout: 'same-cluster' | 'other-cluster';
  bulkNodes: number;
  changes: number;
  /** ms from the znode create to the first request answered by the new node */
  add: ReturnType<typeof summary>;
  /** ms from the znode delete to the first request after which none reaches the removed node */
  remove: ReturnType<typeof summary>;
  all: ReturnType<typeof summary>;
  failedRequests: number;
  timeouts: number;
  /** ZooKeeper requests per change, server-wide, minus the benchmark's own create/delete (the writer's acknowledgement writes included) */
  zkRequestsPerChange: number;
  /**
   * writes of the writer's acknowledgement record per change (changes here
   * come faster than one a second, so they coalesce: below 1; one change at a
   * time costs 1, see test/integration/writer-acks-cost.test.ts); null: no metric
   */
  ackWritesPerChange: number | null;
  /**
   * Where the time goes, from the writer's own log (1 ms resolution): znode
   * change -> member set logged (ZooKeeper watch + re-read), and member set
   * logged -> runtime command logged (sync: render, plan, runtime API).
   */
  breakdown: { watchMs: ReturnType<typeof summary>; applyMs: ReturnType<typeof summary> };
  /** dashboard clients polling the writer's /api/state in a loop during the changes (0: none) */
  dashboardReaders: number;
  /**
   * The floor on the same changes (same-cluster layout): a bare client (no
   * Lighthouse code) holds a children watch on the probed cluster's folder;
   * `watch` is, per measured change, ms from the write to its watch event;
   * `beyondWatch` is that change's convergence minus its watch time (what the
   * writer, HAProxy and the probe add). Null in the other-cluster layout.
   */
  pairedFloor: { watch: ReturnType<typeof summary>; beyondWatch: ReturnType<typeof summary> } | null;
  /** /api/state answers they got, and `show stat` commands the writer sent meanwhile */
  dashboardReads: number;
  statReads: number | null;
}

export interface ConvergenceOptions {
  bulkNodes?: number;
  /** looping /api/state clients during warm-up and measured changes */
  dashboardReaders?: number;
  /** false: the cluster files switch the removal guard off (default: its defaults) */
  removalGuard?: boolean;
}

const FLOOR_WATCHER = fileURLToPath(new URL('../floor-watcher.ts', import.meta.url));

/** The paired floor's bare watcher (bench/floor-watcher.ts) in its own process: `arm()` sets the watch, `fired()` waits for its event (shared-clock ms). */
async function floorWatcher(connectString: string, folder: string): Promise<{ arm(): Promise<void>; fired(timeoutMs: number): Promise<number | undefined>; close(): Promise<void> }> {
  const child = spawnTracked(process.execPath, ['--import', 'tsx', FLOOR_WATCHER, connectString, folder], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: ((line: string) => void)[] = [];
  const queued: string[] = [];
  let fired: ((at: number) => void) | undefined;
  let lastFired: number | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('fired ')) {
      lastFired = Number(line.slice('fired '.length));
      fired?.(lastFired);
      return;
    }
    const next = waiting.shift();
    if (next) next(line);
    else queued.push(line);
  });
  const reply = (): Promise<string> => (queued.length > 0 ? Promise.resolve(queued.shift()!) : new Promise((resolve) => waiting.push(resolve)));
  if ((await Promise.race([reply(), sleep(30_000).then(() => 'timeout')])) !== 'ready') throw new Error('the floor watcher did not connect');
  return {
    async arm() {
      lastFired = undefined;
      child.stdin!.write('arm\n');
      await reply();
    },
    fired(timeoutMs) {
      if (lastFired !== undefined) return Promise.resolve(lastFired);
      return Promise.race([new Promise<number>((resolve) => (fired = resolve)), sleep(timeoutMs).then(() => undefined)]);
    },
    async close() {
      child.stdin!.end();
      await stopChild(child);
    },
  };
}

/** The readers' loop, in a process of its own so their load does not slow the bench's prober. */
const READERS_SCRIPT = `
const [port, readers] = process.argv.slice(1).map(Number);
let running = true;
let reads = 0;
process.stdin.on('end', () => { running = false; });
process.stdin.resume();
const loops = Array.from({ length: readers }, async () => {
  while (running) {
    try {
      const answer = await fetch('http://127.0.0.1:' + port + '/api/state');
      await answer.arrayBuffer();
      if (answer.ok) reads += 1;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});
Promise.all(loops).then(() => process.stdout.write(String(reads)));
`;

/**
 * `readers` clients each requesting /api/state back to back (the
 * dashboard's load, minus the browser's one-second pause), until stopped;
 * `stop()` resolves with the answers they got.
 */
function dashboardLoad(port: number, readers: number): { stop(): Promise<number> } {
  const child = spawnTracked(process.execPath, ['-e', READERS_SCRIPT, String(port), String(readers)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped: Promise<number> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        child.stdin?.end();
        await exited;
        return Number(output) || 0;
      })();
      return stopped;
    },
  };
}

/** A counter of the writer's /metrics, null when it is not exported. */
async function writerCounter(port: number, name: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}{`));
  return line === undefined ? null : Number(line.split(' ').at(-1));
}

/** Acknowledgement records written (every discovery, successful writes only); null when the writer has no such metric. */
async function ackWrites(port: number): Promise<number | null> {
  const lines = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split('\n').filter((entry) => entry.startsWith('lighthouse_ack_writes_total{') && entry.includes('result="ok"'));
  return lines.length === 0 ? null : lines.reduce((sum, entry) => sum + Number(entry.split(' ').at(-1)), 0);
}

/**
 * Convergence: time from a znode create/delete to the first request routed
 * accordingly through HAProxy. A probe node is created and deleted over and
 * over; a sequential client sends requests through the cluster's frontend
 * (roundrobin) and times the first request answered accordingly. With 1,000
 * roundrobin peers a request reaches one given server once per 1,000
 * requests, which would time the client, so only two servers take traffic:
 * an anchor node and the probe. The 1,000 other nodes are either
 * - `same-cluster`: members of the probed cluster, set to weight 0 through
 *   the admin socket once they are up (runtime weights survive runtime
 *   membership changes, not reloads: lighthouse mode only), or
 * - `other-cluster`: members of a second cluster of the same writer (every
 *   sync still renders and plans all of them); works for both modes.
 */
export async function convergence(context: BenchContext, mode: Mode, changes: number, layout: ConvergenceResult['layout'], options: ConvergenceOptions = {}): Promise<ConvergenceResult> {
  const bulkNodes = options.bulkNodes ?? 1000;
  const readers = options.dashboardReaders ?? 0;
  const removalGuard = options.removalGuard ?? true;
  const variant = `${mode}-${layout}${readers > 0 ? `-dashboard${readers}` : ''}${removalGuard ? '' : '-unguarded'}`;
  const base = `/bench/conv-${variant}`;
  const backends = await startBackends(3, 'conv');
  const [anchorPort, probePort, bulkPort] = backends.ports as [number, number, number];
  const anchorId = 'conv0';
  const probeId = 'conv1';
  const bulkCluster = layout === 'same-cluster' ? 'conv' : 'bulk';
  const bulk = Array.from({ length: bulkNodes }, (_, index) => ({ cluster: bulkCluster, node: { host: `n${index}.bulk.bench`, port: bulkPort } }));
  await createNodes(context.client, base, [...bulk, { cluster: 'conv', node: { host: 'anchor.conv.bench', port: anchorPort } }]);
  const [convPort, bulkFrontend] = await freePorts(2);
  const writer = await startWriter(context, `conv-${variant}`, {
    zkPath: base,
    mode,
    removalGuard,
    clusters: layout === 'same-cluster' ? [{ name: 'conv', port: convPort! }] : [
      { name: 'conv', port: convPort! },
      { name: 'bulk', port: bulkFrontend! },
    ],
  });
  const prober = new Prober(convPort!);
  const add: number[] = [];
  const remove: number[] = [];
  let failedRequests = 0;
  let timeouts = 0;
  const changedAt: number[] = [];
  // Paired floor: the bare watcher sees the very writes the writer converges on, at the same moment and load.
  let watcher: Awaited<ReturnType<typeof floorWatcher>> | undefined;
  const pairedWatch: number[] = [];
  const beyondWatch: number[] = [];
  let load: ReturnType<typeof dashboardLoad> | undefined;
  try {
    if (layout === 'same-cluster') watcher = await floorWatcher(context.zk.connectString, `${base}/conv`);
    await waitUntil(
      async () => {
        const servers = await writer.view.routableServers();
        if (layout === 'same-cluster') return (servers.get('conv')?.size ?? 0) >= bulkNodes + 1;
        return (servers.get('bulk')?.size ?? 0) >= bulkNodes && (servers.get('conv')?.size ?? 0) >= 1;
      },
      'the writer to route the initial 1,001 nodes',
      90_000,
      200,
    );
    if (layout === 'same-cluster') {
      for (const { node } of bulk) await writer.view.admin.command(`set weight conv/${node.host}:${node.port} 0`);
    }
    await waitUntil(async () => (await prober.get()) === anchorId, 'the anchor to answer', 10_000);
    const deadlineMs = mode === 'classic' ? 15_000 : 5_000;
    const statReadsBefore = await writerCounter(writer.metricsPort, 'lighthouse_haproxy_stat_reads_total');
    if (readers > 0) load = dashboardLoad(writer.metricsPort, readers);
    // Warm-up changes, not measured: the first changes after start run cold
    // code (V8's JIT in the writer, ZooKeeper's in its JVM) and are not what a
    // writer that runs for days does on a change.
    const warmup = mode === 'classic' ? 0 : WARMUP_CHANGES;
    let packetsBefore = 0;
    let ackWritesBefore: number | null = null;
    for (let index = -warmup; index < changes; index += 1) {
      if (index === 0) {
        // Let the writer's background work (file write) settle before timing.
        await sleep(500);
        packetsBefore = await zkPackets(context);
        ackWritesBefore = await ackWrites(writer.metricsPort);
      }
      const measured = index >= 0;
      const node: BenchNode = { host: measured ? `p${Math.floor(index / 2)}.conv.bench` : `w${Math.floor((index + warmup) / 2)}.conv.bench`, port: probePort };
      const adding = (index + warmup) % 2 === 0;
      // Armed once the server answered, before the write (as in watch-floor.ts); outside the timed interval.
      await watcher?.arm();
      const startedAt = performance.timeOrigin + performance.now();
      const started = performance.now();
      if (measured) changedAt.push(Date.now());
      if (adding) await createNode(context.client, base, 'conv', node);
      else await deleteNode(context.client, base, 'conv', node);
      let converged: number | undefined;
      let anchorsInARow = 0;
      let firstAnchorAt: number | undefined;
      while (performance.now() - started < deadlineMs) {
        const id = await prober.get();
        const now = performance.now();
        if (id === undefined) {
          if (measured) failedRequests += 1;
          continue;
        }
        if (adding && id === probeId) {
          converged = now - started;
          break;
        }
        if (!adding) {
          if (id === probeId) {
            anchorsInARow = 0;
            firstAnchorAt = undefined;
          } else {
            anchorsInARow += 1;
            firstAnchorAt ??= now;
            // Roundrobin over two servers alternates: 20 anchor answers in a row means the probe is out.
            if (anchorsInARow >= 20) {
              converged = firstAnchorAt - started;
              break;
            }
          }
        }
      }
      if (measured && converged === undefined) timeouts += 1;
      else if (measured) (adding ? add : remove).push(converged!);
      if (watcher) {
        const firedAt = await watcher.fired(5_000);
        if (measured && firedAt !== undefined) {
          pairedWatch.push(firedAt - startedAt);
          if (converged !== undefined) beyondWatch.push(converged - (firedAt - startedAt));
        }
      }
      // A pause between changes, so each one is measured on its own (bursts would coalesce).
      await sleep(mode === 'classic' ? 100 : 20);
    }
    const dashboardReads = (await load?.stop()) ?? 0;
    load = undefined;
    const statReadsAfter = await writerCounter(writer.metricsPort, 'lighthouse_haproxy_stat_reads_total');
    const statReads = statReadsBefore === null || statReadsAfter === null ? null : statReadsAfter - statReadsBefore;
    const packetsAfter = await zkPackets(context);
    const ackWritesAfter = await ackWrites(writer.metricsPort);
    const ackWritesPerChange = ackWritesBefore === null || ackWritesAfter === null ? null : (ackWritesAfter - ackWritesBefore) / changes;
    // Each change: the bench's own create or delete (1 request) is not the writer's, nor the paired floor watcher's getChildren.
    const zkRequestsPerChange = (packetsAfter - packetsBefore - changes - (watcher ? changes : 0)) / changes;
    const breakdown = await timeBreakdown(writer.paths.logFile, changedAt);
    const pairedFloor = watcher ? { watch: summary(pairedWatch), beyondWatch: summary(beyondWatch) } : null;
    return { mode, removalGuard, layout, bulkNodes, changes, add: summary(add), remove: summary(remove), all: summary([...add, ...remove]), failedRequests, timeouts, zkRequestsPerChange, ackWritesPerChange, breakdown, dashboardReaders: readers, dashboardReads, statReads, pairedFloor };
  } catch (error) {
    throw await writer.explain(error);
  } finally {
    await load?.stop();
    await watcher?.close().catch(() => undefined);
    prober.close();
    await writer.stop();
    await stopChild(backends.child);
  }
}

/** Pairs each change with the writer's next "cluster conv now has" line and the log line that applied it. */
async function timeBreakdown(logFile: string, changedAt: readonly number[]): Promise<ConvergenceResult['breakdown']> {
  const lines = await readLog(logFile);
  const memberLines = lines.filter((line) => /^cluster "conv" now has/.test(line.msg));
  const applyLines = lines.filter((line) => /^runtime (add|remove|restore) conv\/|^HAProxy reloaded/.test(line.msg));
  const watch: number[] = [];
  const apply: number[] = [];
  let m = 0;
  let a = 0;
  for (const at of changedAt) {
    while (m < memberLines.length && memberLines[m]!.time < at) m += 1;
    const member = memberLines[m];
    if (!member) break;
    watch.push(member.time - at);
    while (a < applyLines.length && applyLines[a]!.time < member.time) a += 1;
    const applied = applyLines[a];
    if (applied) apply.push(applied.time - member.time);
    m += 1;
  }
  return { watchMs: summary(watch), applyMs: summary(apply) };
}
