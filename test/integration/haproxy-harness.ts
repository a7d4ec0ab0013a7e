import { readFile } from 'node:fs/promises';
import { pidsWith } from '../support/processes.js';
import { join } from 'node:path';
import { pino } from 'pino';
import type { BalancedCluster } from '../../src/balancer/types.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import { HaproxyBalancer, type HaproxyBalancerOptions } from '../../src/balancer/haproxy/balancer.js';
import { haproxyClusterSchema, haproxyConfigSchema, type HaproxyClusterConfig, type HaproxyConfig } from '../../src/balancer/haproxy/schema.js';
import type { HttpBackend } from '../support/http-backends.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

/** Real HAProxy in a temp dir, for the haproxy-*.test.ts integration files. */
export interface Harness {
  dir: TempDir;
  config: HaproxyConfig;
  logs: string[];
  balancers: HaproxyBalancer[];
  /** a new balancer instance on the same files (a restarted writer) */
  create(options?: Partial<HaproxyBalancerOptions>): HaproxyBalancer;
  masterPid(): Promise<number | undefined>;
  /** closes every balancer, kills every HAProxy process started from this temp dir, removes it */
  stop(): Promise<void>;
}

export async function harness(extra: Record<string, unknown> = {}): Promise<Harness> {
  const dir = await tempDir('lighthouse-haproxy-');
  const config = haproxyConfigSchema.parse({
    config_file: join(dir.path, 'haproxy.cfg'),
    socket_file: join(dir.path, 'haproxy.sock'),
    pid_file: join(dir.path, 'haproxy.pid'),
    bind_address: '127.0.0.1',
    reload_min_interval_ms: 0,
    defaults: ['mode http', 'timeout connect 2s', 'timeout client 10s', 'timeout server 10s'],
    ...extra,
  });
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const balancers: HaproxyBalancer[] = [];
  const h: Harness = {
    dir,
    config,
    logs,
    balancers,
    create(options = {}) {
      const balancer = new HaproxyBalancer(config, { logger, livenessIntervalMs: 200, ...options });
      balancers.push(balancer);
      return balancer;
    },
    async masterPid() {
      const text = await readFile(config.pid_file, 'utf8').catch(() => '');
      const pid = Number(text.trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    },
    async stop() {
      await Promise.all(balancers.map((balancer) => balancer.close()));
      await killProcessesUsing(dir.path);
      await dir.remove();
    },
  };
  return h;
}

/**
 * Kills every process whose command line names `path` (our temp dir: only
 * HAProxy processes this test started have it), and waits until they are gone.
 */
export async function killProcessesUsing(path: string): Promise<void> {
  const pids = await pidsWith(path);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitFor(async () => (await pidsWith(path)).length === 0, `HAProxy processes of ${path} to exit`, 5_000);
}

export function member(backend: HttpBackend, host = `${backend.id}.test`): ClusterNode {
  return { host, ip: '127.0.0.1', port: backend.port, metadata: {}, peer: { name: host, ip: '127.0.0.1', port: 1024 } };
}

export function clusterOf(name: string, section: Record<string, unknown>, members: ClusterNode[], metaCluster?: string): BalancedCluster<HaproxyClusterConfig> {
  return { name, metaCluster, config: haproxyClusterSchema.parse(section), members };
}

/** HAProxy processes (or any) started with files under `path`. */
export const processesUsing = pidsWith;
