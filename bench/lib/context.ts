import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import type { ZookeeperCluster } from '../../test/support/zookeeper.js';
import { HaproxyView, readLog, spawnWriter, stopDaemon, writeWriterConfig, type Mode, type WriterPaths, type WriterSetup } from './lighthouse.js';
import { killProcessesUsing, sampleProcess } from './procs.js';
import type { ChildProcess } from 'node:child_process';
import { freePorts } from '../../test/support/ports.js';

export interface BenchContext {
  quick: boolean;
  zk: ZookeeperCluster;
  client: ZkClient;
  /** temp dir of this run; every scenario gets a folder in it */
  root: string;
  log(message: string): void;
}

/** ZooKeeper requests the server received (server-wide), minus the mntr asking. */
export async function zkPackets(context: BenchContext): Promise<number> {
  return (await context.zk.packetsReceived(1)) - 1;
}

export interface RunningWriter {
  paths: WriterPaths;
  child: ChildProcess;
  view: HaproxyView;
  startedAt: number;
  /** the writer's --metrics-port */
  metricsPort: number;
  /** `error` with the writer's last warnings and errors appended, so a failed scenario says why */
  explain(error: unknown): Promise<Error>;
  stop(): Promise<void>;
}

/** Writes the config, starts `lighthouse writer` and returns handles; `stop()` ends it and the HAProxy it started. */
export async function startWriter(context: BenchContext, name: string, setup: Omit<WriterSetup, 'dir' | 'zkHosts'>): Promise<RunningWriter> {
  const dir = join(context.root, name);
  await mkdir(dir, { recursive: true });
  const paths = await writeWriterConfig({ ...setup, dir, zkHosts: context.zk.hosts });
  const [metricsPort] = await freePorts(1);
  const startedAt = performance.now();
  const child = spawnWriter(paths, ['--metrics-port', String(metricsPort)]);
  const view = new HaproxyView(paths);
  return {
    paths,
    child,
    view,
    startedAt,
    metricsPort: metricsPort!,
    async explain(error: unknown) {
      const problems = (await readLog(paths.logFile)).filter((line) => line.level >= 40).slice(-3);
      const exit = child.exitCode !== null || child.signalCode !== null ? ` (writer exited: ${child.exitCode ?? child.signalCode})` : '';
      const said = problems.map((line) => line.msg).join(' | ');
      return new Error(`${error instanceof Error ? error.message : String(error)}${exit}${said ? `; writer said: ${said}` : ''}`);
    },
    async stop() {
      view.close();
      await stopDaemon(child);
      // The writer leaves HAProxy serving on purpose; the benchmark does not.
      await killProcessesUsing(paths.haproxyDir);
    },
  };
}

/** CPU share of one core over `ms` (kernel time included, and also given alone; the main thread's share apart), RSS at the end, and the main thread's wake-ups per second (see ProcSample). */
export async function cpuPercentOver(pid: number, ms: number): Promise<{ cpuPercent: number; kernelPercent: number; mainThreadPercent: number; rssMb: number; wakeupsPerSecond: number }> {
  const before = await sampleProcess(pid);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = await sampleProcess(pid);
  const elapsed = (performance.now() - started) / 1000;
  return {
    cpuPercent: ((after.cpuSeconds - before.cpuSeconds) / elapsed) * 100,
    kernelPercent: ((after.systemSeconds - before.systemSeconds) / elapsed) * 100,
    mainThreadPercent: ((after.mainThreadCpuSeconds - before.mainThreadCpuSeconds) / elapsed) * 100,
    rssMb: after.rssMb,
    wakeupsPerSecond: (after.mainThreadWakeups - before.mainThreadWakeups) / elapsed,
  };
}

export type { Mode };
