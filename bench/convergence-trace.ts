/**
 * Where a convergence goes, change by change: the same-cluster convergence
 * scenario (1,000 nodes at weight 0, an anchor, a probe node added and
 * removed; the same probe and paired floor watcher) with the writer's socket
 * reads and writes and log lines stamped by bench/lib/socket-trace.ts, all
 * on process.hrtime. Prints, per segment, p50 / p90 / p99 in ms: write ->
 * the writer's watch event -> re-read sent -> its answer -> member set
 * logged -> first runtime command -> its answer -> the command that makes
 * the change routable answered -> the probe's verdict; and HAProxy's and the
 * writer's run-queue waits per change (schedstat).
 *
 *   node --import tsx bench/convergence-trace.ts [changes=200] [out.json]
 *
 * BENCH_NODE_ARGS (e.g. --cpu-prof) still applies to the writer. Not part of
 * `npm run bench`: a tool for finding where the time goes (docs/benchmarks.md).
 */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../test/support/ports.js';
import { pidsWith } from '../test/support/processes.js';
import { connectClient, ZookeeperCluster } from '../test/support/zookeeper.js';
import { startBackends } from './lib/backends.js';
import { startWriter, type BenchContext } from './lib/context.js';
import { Prober } from './lib/probe.js';
import { cleanupAll, sleep, spawnTracked, stopChild, waitUntil } from './lib/procs.js';
import type { TraceEvent } from './lib/socket-trace.js';
import { summary } from './lib/stats.js';
import { createNode, createNodes, deleteNode } from './lib/zk.js';

const PRELOAD = fileURLToPath(new URL('./lib/socket-trace.ts', import.meta.url));
const FLOOR_WATCHER = fileURLToPath(new URL('./floor-watcher.ts', import.meta.url));
const WARMUP = 20;
const changes = Number(process.argv[2] ?? 200);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Change {
  adding: boolean;
  t0: number;
  fired: number | undefined;
  converged: number | undefined;
  /** [sent, answered, backend id] of every probe request */
  probes: [number, number, string | undefined][];
  /** ms run and waiting for a CPU during the change: HAProxy's processes, then the writer */
  sched: { haproxyRun: number; haproxyWait: number; writerRun: number; writerWait: number };
}

/** Run and run-queue ms of every thread of `pids` (schedstat). */
async function schedstat(pids: readonly number[]): Promise<[number, number]> {
  let run = 0;
  let wait = 0;
  for (const pid of pids) {
    for (const task of await readdir(`/proc/${pid}/task`).catch(() => [])) {
      const [a, b] = (await readFile(`/proc/${pid}/task/${task}/schedstat`, 'utf8').catch(() => '0 0')).split(' ').map(Number);
      run += (a ?? 0) / 1e6;
      wait += (b ?? 0) / 1e6;
    }
  }
  return [run, wait];
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'lighthouse-trace-'));
  const traceFile = join(root, 'writer-trace.json');
  process.env.TRACE_FILE = traceFile;
  process.env.BENCH_NODE_ARGS = `--import tsx --import ${PRELOAD} ${process.env.BENCH_NODE_ARGS ?? ''}`;
  const zk = await ZookeeperCluster.start({ tickTime: 500 });
  const client = await connectClient(zk.connectString);
  const context: BenchContext = { quick: true, zk, client, root, log: (message) => process.stderr.write(`${message}\n`) };
  const base = '/bench/trace';
  const backends = await startBackends(3, 'conv');
  const [anchorPort, probePort, bulkPort] = backends.ports as [number, number, number];
  const bulk = Array.from({ length: 1000 }, (_, index) => ({ cluster: 'conv', node: { host: `n${index}.bulk.bench`, port: bulkPort } }));
  await createNodes(client, base, [...bulk, { cluster: 'conv', node: { host: 'anchor.conv.bench', port: anchorPort } }]);
  const [convPort] = (await freePorts(1)) as [number];
  const writer = await startWriter(context, 'trace', { zkPath: base, mode: 'lighthouse', clusters: [{ name: 'conv', port: convPort }] });
  const watcher = spawnTracked(process.execPath, ['--import', 'tsx', FLOOR_WATCHER, zk.connectString, `${base}/conv`], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, FLOOR_CLOCK: 'hrtime' } });
  const replies: ((line: string) => void)[] = [];
  let fired: number | undefined;
  createInterface({ input: watcher.stdout! }).on('line', (line) => {
    if (line.startsWith('fired ')) fired = Number(line.slice('fired '.length));
    else replies.shift()?.(line);
  });
  const reply = (): Promise<string> => new Promise((resolve) => replies.push(resolve));
  await reply();
  const prober = new Prober(convPort);
  const done: Change[] = [];
  try {
    await waitUntil(async () => ((await writer.view.routableServers()).get('conv')?.size ?? 0) >= 1001, 'the writer to route 1,001 nodes', 90_000, 200);
    for (const { node } of bulk) await writer.view.admin.command(`set weight conv/${node.host}:${node.port} 0`);
    await waitUntil(async () => (await prober.get()) === 'conv0', 'the anchor to answer', 10_000);
    const haproxy = await pidsWith(writer.paths.haproxyDir);
    for (let index = -WARMUP; index < changes; index += 1) {
      const node = { host: `${index < 0 ? 'w' : 'p'}${Math.floor((index + WARMUP) / 2)}.conv.bench`, port: probePort };
      const adding = (index + WARMUP) % 2 === 0;
      fired = undefined;
      watcher.stdin!.write('arm\n');
      await reply();
      const [hapRun0, hapWait0] = await schedstat(haproxy);
      const [wRun0, wWait0] = await schedstat([writer.child.pid!]);
      const t0 = now();
      if (adding) await createNode(client, base, 'conv', node);
      else await deleteNode(client, base, 'conv', node);
      // The scenario's verdict: the first answer from the probe (add), the first of 20 anchors in a row (remove).
      const probes: Change['probes'] = [];
      let converged: number | undefined;
      let anchors = 0;
      let firstAnchor: number | undefined;
      while (now() - t0 < 5_000 && converged === undefined) {
        const sent = now();
        const id = await prober.get();
        const answered = now();
        probes.push([sent, answered, id]);
        if (id === undefined) continue;
        if (adding && id === 'conv1') converged = answered;
        if (!adding && id === 'conv1') {
          anchors = 0;
          firstAnchor = undefined;
        } else if (!adding && ++anchors >= 20) converged = firstAnchor;
        else if (!adding) firstAnchor ??= answered;
      }
      const [hapRun1, hapWait1] = await schedstat(haproxy);
      const [wRun1, wWait1] = await schedstat([writer.child.pid!]);
      for (let wait = 0; wait < 100 && fired === undefined; wait += 1) await sleep(10);
      if (index >= 0) done.push({ adding, t0, fired, converged, probes, sched: { haproxyRun: hapRun1 - hapRun0, haproxyWait: hapWait1 - hapWait0, writerRun: wRun1 - wRun0, writerWait: wWait1 - wWait0 } });
      await sleep(20);
    }
  } finally {
    prober.close();
    watcher.stdin!.end();
    await stopChild(watcher);
    await writer.stop();
    await stopChild(backends.child);
    await client.close().catch(() => undefined);
    await zk.stop();
    await cleanupAll();
  }
  const events = (JSON.parse(await readFile(traceFile, 'utf8')) as TraceEvent[]).sort((a, b) => a.t - b.t);
  const zkPeer = `tcp:${zk.servers[0]!.clientPort}`;
  const segments = new Map<string, number[]>();
  const note = (name: string, value: number | undefined): void => {
    if (value === undefined || !Number.isFinite(value)) return;
    const list = segments.get(name) ?? [];
    list.push(value);
    segments.set(name, list);
  };
  for (const change of done) {
    if (change.converged === undefined) continue;
    const after = events.filter((event) => event.t >= change.t0 && event.t <= change.converged! + 30);
    const watch = after.find((event) => event.peer === zkPeer && event.dir === 'r' && event.xid === -1);
    const read = watch && after.find((event) => event.t >= watch.t && event.peer === zkPeer && event.dir === 'w');
    const answer = read && after.find((event) => event.t >= read.t && event.peer === zkPeer && event.dir === 'r' && event.xid === read.xid);
    const members = after.find((event) => event.dir === 'log' && /now has/.test(event.text ?? ''));
    const command = after.find((event) => event.dir === 'w' && event.peer === 'unix');
    const commandAnswer = command && after.find((event) => event.t > command.t && event.dir === 'r' && event.peer === 'unix');
    const routing = after.find((event) => event.dir === 'w' && event.peer === 'unix' && /^(enable|disable) server/.test(event.text ?? ''));
    const routable = routing && after.find((event) => event.t > routing.t && event.dir === 'r' && event.peer === 'unix');
    const kind = change.adding ? 'add' : 'remove';
    for (const prefix of ['all', kind]) {
      note(`${prefix}: write -> paired floor's watch event`, change.fired === undefined ? undefined : change.fired - change.t0);
      note(`${prefix}: write -> writer's watch event`, watch && watch.t - change.t0);
      note(`${prefix}: event -> re-read sent`, watch && read && read.t - watch.t);
      note(`${prefix}: re-read round trip`, read && answer && answer.t - read.t);
      note(`${prefix}: answer -> member set logged`, answer && members && members.t - answer.t);
      note(`${prefix}: member set -> first runtime command`, members && command && command.t - members.t);
      note(`${prefix}: HAProxy's answer to it`, command && commandAnswer && commandAnswer.t - command.t);
      note(`${prefix}: write -> routing command answered`, routable && routable.t - change.t0);
      note(`${prefix}: routing command answered -> probe's verdict`, routable && change.converged! - routable.t);
      note(`${prefix}: convergence`, change.converged! - change.t0);
      note(`${prefix}: HAProxy's CPU time during the change`, change.sched.haproxyRun);
      note(`${prefix}: HAProxy waited for a CPU`, change.sched.haproxyWait);
      note(`${prefix}: writer waited for a CPU`, change.sched.writerWait);
    }
  }
  for (const [name, values] of segments) {
    const s = summary(values);
    process.stdout.write(`${name.padEnd(64)} p50 ${String(s.p50).padStart(7)}  p90 ${String(s.p90).padStart(7)}  p99 ${String(s.p99).padStart(7)}  (n=${s.n})\n`);
  }
  if (process.argv[3]) await writeFile(process.argv[3], JSON.stringify({ changes: done, events }));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
