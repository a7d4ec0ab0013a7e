/**
 * Writer memory and idle CPU at 10,000 servers, two or more builds in one
 * run, interleaved (the scale scenario's fixture: 1,000 clusters of 10 on one
 * ZooKeeper, one meta-cluster frontend). Each writer runs with --expose-gc
 * and bench/lib/heap-probe.mjs, idles, and is asked for its heap before and
 * after a full collection: live data, which the scale scenario's figure
 * (V8's heap in use, garbage included) is not.
 *
 *   node --import tsx bench/writer-memory.ts --build a=/tmp/old --build b=. [--order "a b b a"] [--idle 30] [--writer-args b="--history-interval 3600"]
 *
 * A build is a checkout with dist/ built. One JSON line per run on stdout.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePorts } from '../test/support/ports.js';
import { connectClient, ZookeeperCluster } from '../test/support/zookeeper.js';
import { startBackends } from './lib/backends.js';
import { HaproxyView, writeWriterConfig } from './lib/lighthouse.js';
import { cleanupAll, killProcessesUsing, sleep, stopChild, track, waitUntil } from './lib/procs.js';
import { createNodes } from './lib/zk.js';

const PROBE = fileURLToPath(new URL('./lib/heap-probe.mjs', import.meta.url));
const CLUSTERS = 1000;
const PER_CLUSTER = 10;

const { values } = parseArgs({ options: { build: { type: 'string', multiple: true }, order: { type: 'string' }, idle: { type: 'string', default: '30' }, 'writer-args': { type: 'string', multiple: true } } });
const named = (list: string[] | undefined): Map<string, string> => new Map((list ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
const builds = named(values.build);
const writerArgs = named(values['writer-args']);
if (builds.size === 0) throw new Error('give at least one --build name=DIR');
const order = (values.order ?? [...builds.keys(), ...[...builds.keys()].reverse()].join(' ')).split(' ').filter(Boolean);
const idleSeconds = Number(values.idle);

/** CPU ms of the main thread and of the others (V8's GC helpers, libuv's pool), from /proc. */
async function threadCpuMs(pid: number): Promise<{ main: number; other: number }> {
  const totals = { main: 0, other: 0 };
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    totals[Number(tid) === pid ? 'main' : 'other'] += (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return totals;
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 102.4) / 10;
}

const root = await mkdtemp(join(tmpdir(), 'lighthouse-writer-memory-'));
const zk = await ZookeeperCluster.start({ tickTime: 500 });
const client = await connectClient(zk.connectString);
const backends = await startBackends(PER_CLUSTER, 'scale');
try {
  const base = '/bench/scale';
  const members = [];
  for (let c = 0; c < CLUSTERS; c += 1) for (let n = 0; n < PER_CLUSTER; n += 1) members.push({ cluster: `c${c}`, node: { host: `c${c}n${n}.scale.bench`, port: backends.ports[n]! } });
  await createNodes(client, base, members);
  // The first writer to read fresh znodes is the slowest (see the scale scenario): an untimed one first.
  for (const [index, name] of ['warm-up', ...order].entries()) {
    const build = builds.get(name === 'warm-up' ? order[0]! : name);
    if (!build) throw new Error(`no --build ${name}=DIR`);
    const dir = join(root, `${index}-${name}`);
    await mkdir(dir, { recursive: true });
    const [metaPort, metricsPort] = await freePorts(2);
    const paths = await writeWriterConfig({ dir, zkHosts: zk.hosts, zkPath: base, mode: 'lighthouse', metaClusters: { all: { port: metaPort! } }, clusters: Array.from({ length: CLUSTERS }, (_, c) => ({ name: `c${c}`, metaCluster: 'all', acl: `path_beg /c${c}/` })) });
    const probeFile = join(dir, 'heap.json');
    const log = openSync(paths.logFile, 'a');
    const extra = (writerArgs.get(name) ?? '').split(' ').filter(Boolean);
    const child = track(spawn(process.execPath, ['--expose-gc', '--import', PROBE, join(build, 'dist/cli/main.js'), 'writer', paths.configDir, '--metrics-port', String(metricsPort), ...extra], { stdio: ['ignore', log, log], cwd: build, env: { ...process.env, HEAP_PROBE_FILE: probeFile } }));
    closeSync(log);
    const started = performance.now();
    const view = new HaproxyView(paths);
    try {
      await waitUntil(
        async () => {
          let count = 0;
          for (const [backend, servers] of await view.routableServers()) if (/^c\d+$/.test(backend)) count += servers.size;
          return count >= CLUSTERS * PER_CLUSTER;
        },
        'every server routable',
        120_000,
        100,
      );
      const syncMs = Math.round(performance.now() - started);
      view.close();
      if (name === 'warm-up') continue;
      await sleep(3_000);
      const before = await threadCpuMs(child.pid!);
      const rssTimeline: string[] = [];
      for (let second = 0; second < idleSeconds; second += 5) {
        await sleep(Math.min(5, idleSeconds - second) * 1000);
        rssTimeline.push(`${Math.round((performance.now() - started) / 1000)}s:${await rssMb(child.pid!)}`);
      }
      const after = await threadCpuMs(child.pid!);
      const cpu = { main: after.main - before.main, other: after.other - before.other };
      child.kill('SIGUSR2');
      const heap = await waitUntil(async () => JSON.parse(await readFile(probeFile, 'utf8')) as unknown, 'the heap probe', 60_000, 200);
      const percent = (ms: number): number => Math.round((ms / (idleSeconds * 1000)) * 1000) / 10;
      console.log(JSON.stringify({ run: index, build: name, syncMs, idleSeconds, idleCpuPercent: percent(cpu.main + cpu.other), idleMainThreadCpuPercent: percent(cpu.main), rssTimeline: rssTimeline.join(' '), heap }));
    } finally {
      view.close();
      await stopChild(child, 5_000);
      await killProcessesUsing(paths.haproxyDir);
    }
  }
} finally {
  await stopChild(backends.child);
  client.close();
  await zk.stop();
  await cleanupAll();
  await rm(root, { recursive: true, force: true }).catch(() => undefined);
}
