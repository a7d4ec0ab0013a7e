import { join } from 'node:path';
import { createDaemonLogger, defaultLogSettings, type LogLevel } from '../lib/logger.js';
import { runUntilSignalled } from '../lib/lifecycle.js';
import { Writer } from '../writer/writer.js';
import { startHttpEndpoint } from './http-endpoint.js';
import { Dashboard, registerHaproxyCounters } from './dashboard.js';
import { serverStateMetricText } from './server-metrics.js';
import { ConfigDirectory } from '../config/directory.js';
import type { HaproxyConfig } from '../balancer/haproxy/schema.js';
import { assertConfigDir, loadRegistries, lockDaemon, lockHaproxyFiles, logStartup, stateDirOf } from './common.js';

export interface DaemonCommandOptions {
  metricsPort?: number;
  metricsAddress: string;
  plugin?: string[];
  /** where the lock is kept (both), and the last known member sets and removal-guard holds (writer); default CONFIG_DIR/.state */
  stateDir?: string;
  /** writer: seconds between two samples of the dashboard's per-cluster history */
  historyInterval?: number;
  /** `--log-level` or LIGHTHOUSE_LOG_LEVEL */
  logLevel?: LogLevel;
}

export async function runWriter(configDir: string, options: DaemonCommandOptions): Promise<void> {
  const log = createDaemonLogger('writer', defaultLogSettings(), { level: options.logLevel });
  logStartup(log.logger, 'writer', configDir);
  await assertConfigDir(configDir);
  await lockDaemon('writer', configDir, stateDirOf(configDir, options.stateDir), log.logger);
  const registries = await loadRegistries(configDir, options.plugin ?? [], log.logger);
  const { snapshot } = await new ConfigDirectory(configDir, registries, ['balancer']).scan();
  await lockHaproxyFiles([...snapshot.balancers.values()].filter((item) => item.plugin === 'haproxy').map((item) => (item.config as HaproxyConfig).config_file), log.logger);
  const memberCacheFile = options.stateDir ? join(options.stateDir, 'writer-members.json') : undefined;
  const writer = new Writer({ configDir, registries, log, memberCacheFile, stateDir: options.stateDir });
  registerHaproxyCounters(writer.metrics.registry, writer);
  const dashboard = new Dashboard(writer, { historyIntervalMs: options.historyInterval === undefined ? undefined : options.historyInterval * 1000 });
  await runUntilSignalled(
    {
      start: async () => {
        if (options.metricsPort !== undefined) {
          await startHttpEndpoint({ port: options.metricsPort, address: options.metricsAddress, registry: writer.metrics.registry, metricTexts: [() => serverStateMetricText(writer)], ready: () => writer.ready, routes: dashboard.routes(), logger: log.logger });
          dashboard.start();
        }
        await writer.start();
      },
      stop: () => {
        dashboard.close();
        return writer.stop();
      },
    },
    log.logger,
  );
}
