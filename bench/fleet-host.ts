/**
 * One process of simulated writers for the fleet scenario
 * (bench/scenarios/fleet.ts): `count` real ZooKeeper sessions, each a
 * ZookeeperDiscovery built through the plugin exactly as the writer builds
 * it, each watching the same clusters; no HAProxy. Talks to the bench over
 * IPC (process.send). Exits when the bench says so or its IPC channel closes.
 */
import { performance } from 'node:perf_hooks';
import { zookeeperDiscovery, ZookeeperDiscovery } from '../src/discovery/zookeeper/plugin.js';
import type { MemberSet } from '../src/discovery/types.js';
import { silentLogger } from '../src/lib/logger.js';
import { ClassicClusterWatch } from './lib/classic-watch.js';
import { countReads, type ReadCounter } from './lib/read-counter.js';

export type HostCommand =
  | { type: 'start'; hosts: string[]; base: string; clusters: string[]; deployCluster: string; count: number; strategy: 'lighthouse' | 'classic'; sessionTimeoutMs: number }
  /** the next state of the deploy cluster: member count and sum of the members' metadata.v */
  | { type: 'expect'; index: number; size: number; sum: number }
  | { type: 'stats' }
  | { type: 'stop' };

export type HostMessage =
  | { type: 'started' }
  | { type: 'ack'; index: number }
  /** every writer of this host holds state `index`: when the first and the last one got it (epoch ms, sub-ms) */
  | { type: 'reached'; index: number; firstAt: number; lastAt: number }
  | { type: 'stats'; reads: number; readsByOp: Record<string, number>; probes: number; sessions: number; expiries: number; connected: number; rssMb: number; heapUsedMb: number; cpuMs: number };

const now = (): number => performance.timeOrigin + performance.now();
const send = (message: HostMessage): void => void process.send?.(message);

interface SimWriter {
  discovery: ZookeeperDiscovery;
  counter: ReadCounter;
  size: number;
  sum: number;
  /** index of the pending expectation this writer already matched */
  matched: number;
}

const writers: SimWriter[] = [];
const closers: (() => void)[] = [];
let pending: { index: number; size: number; sum: number; first?: number; matched: number } | undefined;

function signature(set: MemberSet): { size: number; sum: number } {
  let sum = 0;
  for (const member of set.members) {
    const v = member.metadata.v;
    if (typeof v === 'number') sum += v;
  }
  return { size: set.members.length, sum };
}

function check(writer: SimWriter, at: number): void {
  const want = pending;
  if (!want || writer.matched === want.index || writer.size !== want.size || writer.sum !== want.sum) return;
  writer.matched = want.index;
  want.first ??= at;
  want.matched += 1;
  if (want.matched === writers.length) send({ type: 'reached', index: want.index, firstAt: want.first, lastAt: at });
}

function start(command: Extract<HostCommand, { type: 'start' }>): void {
  for (let i = 0; i < command.count; i += 1) {
    const config = zookeeperDiscovery.schema.parse({ hosts: command.hosts, path: command.base, session_timeout_ms: command.sessionTimeoutMs });
    const discovery = zookeeperDiscovery.create(config, { logger: silentLogger(), name: `fleet${i}`, file: '/bench/fleet.yaml', now: Date.now });
    if (!(discovery instanceof ZookeeperDiscovery)) throw new Error('unexpected discovery type');
    const counter = countReads(discovery.session);
    const writer: SimWriter = { discovery, counter, size: -1, sum: -1, matched: -1 };
    writers.push(writer);
    discovery.connect();
    for (const cluster of command.clusters) {
      const onMembers = cluster !== command.deployCluster ? () => undefined : (set: MemberSet) => {
        const at = now();
        Object.assign(writer, signature(set));
        check(writer, at);
      };
      if (command.strategy === 'classic') {
        const watch = new ClassicClusterWatch({ session: discovery.session, basePath: command.base, cluster, onMembers });
        closers.push(() => watch.close());
      } else {
        discovery.watch(cluster, onMembers);
      }
    }
  }
  send({ type: 'started' });
}

function stats(): void {
  let reads = 0;
  const readsByOp: Record<string, number> = {};
  let probes = 0;
  let sessions = 0;
  let expiries = 0;
  let connected = 0;
  for (const writer of writers) {
    reads += writer.counter.reads;
    for (const [op, count] of Object.entries(writer.counter.byOp)) readsByOp[op] = (readsByOp[op] ?? 0) + count;
    const s = writer.discovery.stats;
    probes += s.probes;
    sessions += s.sessions;
    expiries += s.expiries;
    if (writer.discovery.state === 'connected') connected += 1;
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  send({ type: 'stats', reads, readsByOp, probes, sessions, expiries, connected, rssMb: memory.rss / 1024 ** 2, heapUsedMb: memory.heapUsed / 1024 ** 2, cpuMs: (cpu.user + cpu.system) / 1000 });
}

async function stop(): Promise<void> {
  for (const close of closers) close();
  // Closing sends CLOSE_SESSION; many at once, bounded by the ensemble, not by us.
  await Promise.allSettled(writers.map((writer) => writer.discovery.close()));
  process.exit(0);
}

process.on('message', (command: HostCommand) => {
  switch (command.type) {
    case 'start':
      start(command);
      return;
    case 'expect': {
      pending = { index: command.index, size: command.size, sum: command.sum, matched: 0 };
      const at = now();
      for (const writer of writers) check(writer, at);
      send({ type: 'ack', index: command.index });
      return;
    }
    case 'stats':
      stats();
      return;
    case 'stop':
      void stop();
      return;
  }
});
// The bench is gone (crashed, killed): do not linger with open sessions.
process.on('disconnect', () => process.exit(0));
