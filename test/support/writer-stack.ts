import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { Writer, type WriterOptions } from '../../src/writer/writer.js';
import { coreRegistries } from './core-registries.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from './daemon-config.js';
import { killHaproxy } from './haproxy-process.js';
import { tempDir, type TempDir } from './temp-dir.js';
import { ZookeeperCluster, connectClient, mkdirs } from './zookeeper.js';

export const BASE = '/lighthouse/services';

/** A real ZooKeeper, a config dir (discovery + balancer files, plus `files`) and an in-process writer driving a real HAProxy. */
export interface WriterStack {
  zk: ZookeeperCluster;
  /** a session of the test's own (not the writer's) */
  admin: ZkClient;
  dir: TempDir;
  writer: Writer;
  haproxy(): HaproxyBalancer;
  /** servers of `proxy` HAProxy routes to: in the backend and not in maintenance */
  serving(proxy: string): Promise<Set<string>>;
  close(): Promise<void>;
}

export interface WriterStackOptions {
  /** cluster files and any other files, by path in the config dir */
  files: Record<string, string>;
  /** ZooKeeper folders to create first (clusters under BASE) */
  clusters?: string[];
  /** runs after the files are written and before the writer starts */
  prepare?(dir: string): Promise<void>;
  /** extra Writer options (state folder, member cache file) */
  writer?(dir: string): Partial<WriterOptions>;
}

export async function startWriterStack(options: WriterStackOptions): Promise<WriterStack> {
  const zk = await ZookeeperCluster.start();
  const admin = await connectClient(zk.connectString);
  const dir = await tempDir();
  for (const cluster of options.clusters ?? []) await mkdirs(admin, `${BASE}/${cluster}`);
  await writeConfig(dir.path, {
    'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE),
    'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
    ...options.files,
  });
  await mkdir(join(dir.path, 'run'), { recursive: true });
  await options.prepare?.(dir.path);
  const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: join(dir.path, 'writer.log') });
  const writer = new Writer({ configDir: dir.path, registries: coreRegistries(), log, ...options.writer?.(dir.path) });
  await writer.start();
  const haproxy = () => writer.balancer('haproxy') as HaproxyBalancer;
  return {
    zk,
    admin,
    dir,
    writer,
    haproxy,
    async serving(proxy) {
      const rows = await haproxy().control.serverStats();
      return new Set(rows.filter((row) => row.proxy === proxy && row.server !== 'BACKEND' && row.server !== 'FRONTEND' && !row.status.startsWith('MAINT')).map((row) => row.server));
    },
    async close() {
      await writer.stop();
      await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
      admin.close();
      await zk.stop();
      await dir.remove();
    },
  };
}
