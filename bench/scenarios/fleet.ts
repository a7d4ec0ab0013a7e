import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectClient, ZookeeperCluster } from '../../test/support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import type { HostCommand, HostMessage } from '../fleet-host.js';
import type { BenchContext } from '../lib/context.js';
import { EnsembleMeter } from '../lib/ensemble.js';
import { benchNodeArgs, sleep, spawnTracked, stopChild } from '../lib/procs.js';
import { round, summary } from '../lib/stats.js';
import { createNodes, nodeData, nodePath, type BenchNode } from '../lib/zk.js';
import { OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import { isNodeExists, isNoNode } from '../../src/discovery/zookeeper/zk-errors.js';

const HOST = fileURLToPath(new URL('../fleet-host.ts', import.meta.url));

/** Simulated writers per host process: a few processes share the 2 cores with the ensemble. */
const WRITERS_PER_HOST = 250;
const CLUSTERS = 20;
const DEPLOY_NODES = 100;
/** nodes in each of the 19 other clusters every writer watches */
const OTHER_NODES = 5;
/** the simulated writers' session timeout (the writer's default) */
const SESSION_TIMEOUT_MS = 10_000;

export type WatchStrategy = 'lighthouse' | 'classic';

export interface RecoveryResult {
  /** fault start (ensemble stopped / writers resumed after their sessions expired) -> every writer holds the member set written meanwhile */
  recoveryMs: number | null;
  /** ensemble restart only: stop -> a quorum serves writes again */
  downtimeMs: number | null;
  peakRequestsPerSecond: number;
  /** packets/s every 250 ms from the fault on */
  rateTimeline: number[];
  zkReadLatencyP99Ms: number;
  zkMaxLatencyMs: number;
  /** read requests per writer from the fault until the fleet's reads stopped (client-side) */
  readsPerWriter: number;
  /** fault start -> the fleet sent no more reads for a second (the re-reads after convergence included) */
  settledMs: number | null;
  /** sessions established per writer meanwhile (1: its session was replaced) */
  newSessionsPerWriter: number;
}

export interface FleetResult {
  strategy: WatchStrategy;
  writers: number;
  hosts: number;
  clusters: number;
  deployNodes: number;
  /** ms from the first writer process spawned to every writer holding the 100-node set */
  coldStartMs: number;
  changes: number;
  /** ms from the znode write to the LAST writer holding the new member set */
  convergence: ReturnType<typeof summary>;
  /** ms from the znode write to the FIRST writer holding it */
  firstWriter: ReturnType<typeof summary>;
  /** client-side: getChildren/getData/exists the watches sent, per change per writer */
  zkRequestsPerChangePerWriter: number;
  /** zkRequestsPerChangePerWriter split by request (getChildren, getData, exists, addWatch) */
  zkRequestsPerChangePerWriterByOp: Record<string, number>;
  /** server-side: every packet the ensemble received during the deploy (pings and liveness probes included), per change per writer */
  zkPacketsPerChangePerWriter: number;
  /** % of one core used by the three JVMs together during the deploy */
  ensembleCpuPercent: number;
  zkReadLatencyP99Ms: number;
  zkUpdateLatencyP99Ms: number;
  zkMaxLatencyMs: number;
  /**
   * CPU the simulated writers used per change, all hosts together (ms): a
   * host runs its writers' work one after another on one thread, which real
   * writers on their own machines do not, so the last writer's time includes
   * up to this much of the simulator's own queueing
   */
  simulatorCpuMsPerChange: number;
  /** host processes' RSS above an empty host's, per writer */
  rssKbPerWriter: number;
  heapKbPerWriter: number;
  restart?: RecoveryResult;
  expiry?: RecoveryResult;
  timeouts: number;
}

interface Host {
  child: ChildProcess;
  send(command: HostCommand): void;
  next<T extends HostMessage['type']>(type: T, timeoutMs: number, match?: (message: Extract<HostMessage, { type: T }>) => boolean): Promise<Extract<HostMessage, { type: T }>>;
  baseRssMb: number;
  baseHeapMb: number;
}

async function startHost(): Promise<Host> {
  const child = spawnTracked(process.execPath, [...benchNodeArgs(), '--import', 'tsx', HOST], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: HostMessage[] = [];
  const waiters = new Set<() => void>();
  child.on('message', (message: HostMessage) => {
    queue.push(message);
    for (const wake of [...waiters]) wake();
  });
  const host: Host = {
    child,
    baseRssMb: 0,
    baseHeapMb: 0,
    send: (command) => void child.send(command),
    next(type, timeoutMs, match) {
      type M = Extract<HostMessage, { type: typeof type }>;
      return new Promise<M>((resolve, reject) => {
        const look = (): boolean => {
          const index = queue.findIndex((message) => message.type === type && (!match || match(message as M)));
          if (index < 0) return false;
          const [message] = queue.splice(index, 1);
          cleanup();
          resolve(message as M);
          return true;
        };
        const onExit = (): void => {
          cleanup();
          reject(new Error(`fleet host exited while waiting for ${type}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`fleet host: no ${type} after ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          child.off('exit', onExit);
        };
        const wake = (): void => void look();
        if (look()) return;
        waiters.add(wake);
        child.once('exit', onExit);
      });
    },
  };
  host.send({ type: 'stats' });
  const empty = await host.next('stats', 30_000);
  host.baseRssMb = empty.rssMb;
  host.baseHeapMb = empty.heapUsedMb;
  return host;
}

async function fleetStats(hosts: Host[]): Promise<{ reads: number; readsByOp: Record<string, number>; probes: number; sessions: number; expiries: number; connected: number; rssMb: number; heapUsedMb: number; cpuMs: number }> {
  const all = await Promise.all(hosts.map((host) => (host.send({ type: 'stats' }), host.next('stats', 30_000))));
  const sum = (pick: (s: (typeof all)[number]) => number): number => all.reduce((total, s) => total + pick(s), 0);
  const readsByOp: Record<string, number> = {};
  for (const s of all) for (const [op, count] of Object.entries(s.readsByOp)) readsByOp[op] = (readsByOp[op] ?? 0) + count;
  return { reads: sum((s) => s.reads), readsByOp, probes: sum((s) => s.probes), sessions: sum((s) => s.sessions), expiries: sum((s) => s.expiries), connected: sum((s) => s.connected), rssMb: sum((s) => s.rssMb), heapUsedMb: sum((s) => s.heapUsedMb), cpuMs: sum((s) => s.cpuMs) };
}

const now = (): number => performance.timeOrigin + performance.now();

/**
 * The deploy cluster's state, as the hosts recognize it: member count and
 * the sum of the members' metadata.v (a re-added node carries v + 1).
 */
class DeployState {
  index = -1;
  readonly versions = Array.from({ length: DEPLOY_NODES }, () => 1);
  readonly present = Array.from({ length: DEPLOY_NODES }, () => true);

  get size(): number {
    return this.present.filter(Boolean).length;
  }

  get sum(): number {
    return this.versions.reduce((total, v, i) => total + (this.present[i] ? v : 0), 0);
  }
}

const deployNode = (i: number): BenchNode => ({ host: `d${String(i).padStart(3, '0')}.fleet.bench`, port: 10_000 + i });

/**
 * Fleet: `writers` simulated writers (real sessions, the project's own watch
 * code, `strategy`) against a 3-server ensemble on 127.0.0.1; all watch the
 * same 20 clusters and consume the 100-node one, through which a rolling
 * deploy runs (each node removed, then re-added with new data). Then the
 * whole ensemble is restarted, and then every session is expired (the
 * writer processes are frozen past the session timeout), and the time until
 * every writer holds the member set written meanwhile is measured.
 */
export async function fleet(context: BenchContext, strategy: WatchStrategy, writers: number, changes: number, faults: boolean): Promise<FleetResult> {
  const zk = await ZookeeperCluster.start({ servers: 3, tickTime: 500 });
  const meter = new EnsembleMeter(zk);
  let client: ZkClient | undefined;
  const hosts: Host[] = [];
  const base = `/fleet-${strategy}`;
  const deployCluster = 'deploy';
  const clusters = [deployCluster, ...Array.from({ length: CLUSTERS - 1 }, (_, c) => `svc${c}`)];
  const state = new DeployState();
  let timeouts = 0;
  try {
    client = await connectClient(zk.connectString);
    const members = [
      ...Array.from({ length: DEPLOY_NODES }, (_, i) => ({ cluster: deployCluster, node: deployNode(i) })),
      ...clusters.slice(1).flatMap((cluster) => Array.from({ length: OTHER_NODES }, (_, n) => ({ cluster, node: { host: `${cluster}n${n}.fleet.bench`, port: 20_000 + n } }))),
    ];
    await createNodes(client, base, members);
    // Deploy nodes carry v (createNodes wrote v-less data): rewrite them with v = 1.
    await Promise.all(Array.from({ length: DEPLOY_NODES }, (_, i) => client!.setData(nodePath(base, deployCluster, deployNode(i)), nodeData(deployNode(i), { v: 1 }), -1)));

    const hostCount = Math.ceil(writers / WRITERS_PER_HOST);
    for (let h = 0; h < hostCount; h += 1) hosts.push(await startHost());
    const coldStart = now();
    await broadcastExpect(hosts, state, 0);
    hosts.forEach((host, h) => host.send({ type: 'start', hosts: zk.hosts, base, clusters, deployCluster, count: Math.min(WRITERS_PER_HOST, writers - h * WRITERS_PER_HOST), strategy, sessionTimeoutMs: SESSION_TIMEOUT_MS }));
    await Promise.all(hosts.map((host) => host.next('started', 60_000)));
    const coldStartMs = (await allReached(hosts, state.index, 180_000)) - coldStart;
    context.log(`fleet ${strategy} K=${writers}: all ${writers} writers hold the ${DEPLOY_NODES}-node set after ${round(coldStartMs, 0)} ms`);
    await sleep(1_000);

    // The rolling deploy.
    const convergence: number[] = [];
    const firstWriter: number[] = [];
    const before = await fleetStats(hosts);
    const packetsBefore = await meter.packets();
    const cpuBefore = await meter.cpuSeconds();
    await meter.resetLatency();
    const deployStarted = performance.now();
    for (let j = 0; j < changes; j += 1) {
      const i = Math.floor(j / 2) % DEPLOY_NODES;
      const adding = j % 2 === 1;
      if (adding) state.versions[i]! += 1;
      state.present[i] = adding;
      await broadcastExpect(hosts, state, state.index + 1);
      const writtenAt = now();
      if (adding) await client.create(nodePath(base, deployCluster, deployNode(i)), nodeData(deployNode(i), { v: state.versions[i]! }), OPEN_ACL, false);
      else await client.remove(nodePath(base, deployCluster, deployNode(i)), -1);
      try {
        const reached = await Promise.all(hosts.map((host) => host.next('reached', 30_000, (m) => m.index === state.index)));
        convergence.push(Math.max(...reached.map((r) => r.lastAt)) - writtenAt);
        firstWriter.push(Math.min(...reached.map((r) => r.firstAt)) - writtenAt);
      } catch {
        timeouts += 1;
        await allReached(hosts, state.index, 60_000);
      }
      await sleep(20);
    }
    const deploySeconds = (performance.now() - deployStarted) / 1000;
    const latency = await meter.latency();
    const cpuAfter = await meter.cpuSeconds();
    const packetsAfter = await meter.packets();
    const after = await fleetStats(hosts);
    // The bench's own create/delete are packets too (one each).
    const zkPacketsPerChangePerWriter = (packetsAfter - packetsBefore - changes) / changes / writers;
    const rssAbove = after.rssMb - hosts.reduce((total, host) => total + host.baseRssMb, 0);
    const result: FleetResult = {
      strategy,
      writers,
      hosts: hostCount,
      clusters: CLUSTERS,
      deployNodes: DEPLOY_NODES,
      coldStartMs: round(coldStartMs, 0),
      changes,
      convergence: summary(convergence),
      firstWriter: summary(firstWriter),
      zkRequestsPerChangePerWriter: round((after.reads - before.reads) / changes / writers, 3),
      zkRequestsPerChangePerWriterByOp: Object.fromEntries(Object.entries(after.readsByOp).map(([op, count]) => [op, round((count - (before.readsByOp[op] ?? 0)) / changes / writers, 3)])),
      zkPacketsPerChangePerWriter: round(zkPacketsPerChangePerWriter, 3),
      ensembleCpuPercent: round(((cpuAfter - cpuBefore) / deploySeconds) * 100, 1),
      zkReadLatencyP99Ms: latency.readP99,
      zkUpdateLatencyP99Ms: latency.updateP99,
      zkMaxLatencyMs: latency.max,
      simulatorCpuMsPerChange: round((after.cpuMs - before.cpuMs) / changes, 1),
      rssKbPerWriter: round((rssAbove * 1024) / writers, 1),
      heapKbPerWriter: round(((after.heapUsedMb - hosts.reduce((total, host) => total + host.baseHeapMb, 0)) * 1024) / writers, 1),
      timeouts,
    };
    context.log(`fleet ${strategy} K=${writers}: deploy of ${changes} changes: convergence ${JSON.stringify(result.convergence)}, ${result.zkRequestsPerChangePerWriter} reads/change/writer`);

    if (faults) {
      result.restart = await ensembleRestart(context, zk, meter, client, hosts, state, base, deployCluster, writers);
      context.log(`fleet ${strategy} K=${writers}: ensemble restart: ${JSON.stringify({ ...result.restart, rateTimeline: undefined })}`);
      client = (await reconnectIfNeeded(client, zk)) ?? client;
      result.expiry = await expireAll(context, meter, client, hosts, state, base, deployCluster, writers);
      context.log(`fleet ${strategy} K=${writers}: session expiry: ${JSON.stringify({ ...result.expiry, rateTimeline: undefined })}`);
    }
    return result;
  } finally {
    await Promise.all(hosts.map(async (host) => {
      host.send({ type: 'stop' });
      const exited = new Promise<void>((resolve) => (host.child.exitCode !== null ? resolve() : host.child.once('exit', () => resolve())));
      await Promise.race([exited, sleep(15_000)]);
      await stopChild(host.child, 1_000);
    }));
    await client?.close().catch(() => undefined);
    await zk.stop().catch(() => undefined);
  }
}

/** Tells every host the next state and waits until each has it, so no write can overtake its expectation. */
async function broadcastExpect(hosts: Host[], state: DeployState, index: number): Promise<void> {
  state.index = index;
  for (const host of hosts) host.send({ type: 'expect', index, size: state.size, sum: state.sum });
  await Promise.all(hosts.map((host) => host.next('ack', 30_000, (m) => m.index === index)));
}

/** Epoch ms at which the last writer of all hosts held state `index`. */
async function allReached(hosts: Host[], index: number, timeoutMs: number): Promise<number> {
  const reached = await Promise.all(hosts.map((host) => host.next('reached', timeoutMs, (m) => m.index === index)));
  return Math.max(...reached.map((r) => r.lastAt));
}

async function reconnectIfNeeded(client: ZkClient, zk: ZookeeperCluster): Promise<ZkClient | undefined> {
  try {
    await client.exists('/');
    return undefined;
  } catch {
    await client.close().catch(() => undefined);
    return connectClient(zk.connectString);
  }
}

/**
 * After convergence the fleet may still be re-reading (data watches re-armed
 * through the rewatch queue): waits until its read count stays put for a
 * second, so the peak rate and reads per writer cover the whole herd.
 */
async function settle(hosts: Host[], started: number, timeoutMs = 60_000): Promise<{ settledMs: number | null; reads: number }> {
  let last = (await fleetStats(hosts)).reads;
  let lastChangeAt = now();
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    await sleep(250);
    const reads = (await fleetStats(hosts)).reads;
    if (reads !== last) {
      last = reads;
      lastChangeAt = now();
    } else if (now() - lastChangeAt >= 1_000) {
      return { settledMs: round(lastChangeAt - started, 0), reads };
    }
  }
  return { settledMs: null, reads: last };
}

/** Writes the flip `nextFlip` planned (node 0 removed, or re-added) through `client`, retrying while the ensemble is not back. */
async function flipNodeZero(client: ZkClient, state: DeployState, base: string, deployCluster: string): Promise<void> {
  const adding = state.present[0];
  for (let attempt = 0; ; attempt += 1) {
    try {
      if (adding) await client.create(nodePath(base, deployCluster, deployNode(0)), nodeData(deployNode(0), { v: state.versions[0]! }), OPEN_ACL, false);
      else await client.remove(nodePath(base, deployCluster, deployNode(0)), -1);
      return;
    } catch (error) {
      // A write that timed out may have been applied: NODE_EXISTS / NO_NODE then mean done.
      if (isNodeExists(error) || isNoNode(error)) return;
      if (attempt > 600) throw error;
      await sleep(50);
    }
  }
}

function nextFlip(state: DeployState): void {
  if (state.present[0]) state.present[0] = false;
  else {
    state.versions[0]! += 1;
    state.present[0] = true;
  }
}

async function ensembleRestart(context: BenchContext, zk: ZookeeperCluster, meter: EnsembleMeter, client: ZkClient, hosts: Host[], state: DeployState, base: string, deployCluster: string, writers: number): Promise<RecoveryResult> {
  nextFlip(state);
  await broadcastExpect(hosts, state, state.index + 1);
  const before = await fleetStats(hosts);
  const sampler = meter.rateSampler();
  const started = now();
  await Promise.all(zk.servers.map((server) => zk.stopServer(server.id)));
  meter.forget();
  await Promise.all(zk.servers.map((server) => zk.restartServer(server.id)));
  // The bench's own client resumes its session too; it writes as soon as a quorum takes writes.
  const writer = (await reconnectIfNeeded(client, zk).catch(() => undefined)) ?? client;
  await flipNodeZero(writer, state, base, deployCluster);
  const downtimeMs = now() - started;
  let recoveryMs: number | null = null;
  try {
    recoveryMs = (await allReached(hosts, state.index, 120_000)) - started;
  } catch (error) {
    context.log(`fleet: ensemble restart: ${String(error)}`);
  }
  const settled = await settle(hosts, started);
  const rate = await sampler.stop();
  const latency = await meter.latency();
  const after = await fleetStats(hosts);
  if (writer !== client) await writer.close().catch(() => undefined);
  return {
    recoveryMs: recoveryMs === null ? null : round(recoveryMs, 0),
    downtimeMs: round(downtimeMs, 0),
    peakRequestsPerSecond: rate.peakPerSecond,
    rateTimeline: rate.timeline,
    zkReadLatencyP99Ms: latency.readP99,
    zkMaxLatencyMs: latency.max,
    readsPerWriter: round((after.reads - before.reads) / writers, 2),
    settledMs: settled.settledMs,
    newSessionsPerWriter: round((after.sessions - before.sessions) / writers, 2),
  };
}

async function expireAll(context: BenchContext, meter: EnsembleMeter, client: ZkClient, hosts: Host[], state: DeployState, base: string, deployCluster: string, writers: number): Promise<RecoveryResult> {
  nextFlip(state);
  await broadcastExpect(hosts, state, state.index + 1);
  const before = await fleetStats(hosts);
  // Frozen past the session timeout, the way a GC pause or a partition does it: the ensemble expires every session.
  for (const host of hosts) process.kill(host.child.pid!, 'SIGSTOP');
  let resumed = false;
  const resume = (): void => {
    if (resumed) return;
    resumed = true;
    for (const host of hosts) process.kill(host.child.pid!, 'SIGCONT');
  };
  try {
    await sleep(SESSION_TIMEOUT_MS + 4_000);
    await flipNodeZero(client, state, base, deployCluster);
    await meter.resetLatency();
    const sampler = meter.rateSampler();
    const started = now();
    resume();
    let recoveryMs: number | null = null;
    try {
      recoveryMs = (await allReached(hosts, state.index, 120_000)) - started;
    } catch (error) {
      context.log(`fleet: session expiry: ${String(error)}`);
    }
    const settled = await settle(hosts, started);
    const rate = await sampler.stop();
    const latency = await meter.latency();
    const after = await fleetStats(hosts);
    return {
      recoveryMs: recoveryMs === null ? null : round(recoveryMs, 0),
      downtimeMs: null,
      peakRequestsPerSecond: rate.peakPerSecond,
      rateTimeline: rate.timeline,
      zkReadLatencyP99Ms: latency.readP99,
      zkMaxLatencyMs: latency.max,
      readsPerWriter: round((after.reads - before.reads) / writers, 2),
      settledMs: settled.settledMs,
      newSessionsPerWriter: round((after.sessions - before.sessions) / writers, 2),
    };
  } finally {
    resume();
  }
}
