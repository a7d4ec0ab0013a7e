import { createDaemonLogger } from '../lib/logger.js';
import { runUntilSignalled } from '../lib/lifecycle.js';
import { Reporter } from '../reporter/reporter.js';
import { startHttpEndpoint } from './http-endpoint.js';
import { assertConfigDir, loadRegistries } from './common.js';
import type { DaemonCommandOptions } from './writer-command.js';

export async function runReporter(configDir: string, options: DaemonCommandOptions): Promise<void> {
  const log = createDaemonLogger('reporter');
  await assertConfigDir(configDir);
  const registries = await loadRegistries(configDir, options.plugin ?? [], log.logger);
  const reporter = new Reporter({ configDir, registries, log });
  await runUntilSignalled(
    {
      start: async () => {
        if (options.metricsPort !== undefined) {
          await startHttpEndpoint({ port: options.metricsPort, address: options.metricsAddress, registry: reporter.metrics.registry, ready: () => reporter.ready, logger: log.logger });
        }
        await reporter.start();
      },
      stop: () => reporter.stop(),
    },
    log.logger,
  );
}
