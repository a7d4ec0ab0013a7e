import { createDaemonLogger } from '../lib/logger.js';
import { runUntilSignalled } from '../lib/lifecycle.js';
import { Reporter } from '../reporter/reporter.js';
import { reporterStatePath } from '../reporter/state-file.js';
import { applyDrainChange, DrainWatcher, drainFilePath } from '../reporter/drains.js';
import { startHttpEndpoint } from './http-endpoint.js';
import { ReporterDashboard } from './reporter-dashboard.js';
import { assertConfigDir, loadRegistries, lockDaemon, logStartup, stateDirOf } from './common.js';
import type { DaemonCommandOptions } from './writer-command.js';

export async function runReporter(configDir: string, options: DaemonCommandOptions): Promise<void> {
  const log = createDaemonLogger('reporter');
  logStartup(log.logger, 'reporter', configDir);
  await assertConfigDir(configDir);
  const stateDir = stateDirOf(configDir, options.stateDir);
  await lockDaemon('reporter', configDir, stateDir, log.logger);
  const registries = await loadRegistries(configDir, options.plugin ?? [], log.logger);
  // Drains (`lighthouse drain`) are read before the first runner starts, so a drained port is never registered, not even briefly after a restart.
  const drains = new DrainWatcher(drainFilePath(configDir), log.logger.child({ module: 'drains' }));
  const reporter = new Reporter({ configDir, registries, log, drains, stateFile: reporterStatePath(stateDir) });
  drains.onChange((previous, next) => {
    // After a start on an unreadable file every service was drained as a whole; the file now says which stay drained.
    const before = (service: string) => (previous === 'unreadable' ? drains.unreadableEntry() : previous.services[service]);
    const services = previous === 'unreadable' ? [...reporter.serviceNames(), ...Object.keys(next.services)] : [...Object.keys(previous.services), ...Object.keys(next.services)];
    for (const service of new Set(services)) {
      for (const runner of reporter.runnersOf(service)) applyDrainChange(runner, before(service), next.services[service]);
    }
  });
  await runUntilSignalled(
    {
      start: async () => {
        if (options.metricsPort !== undefined) {
          await startHttpEndpoint({ port: options.metricsPort, address: options.metricsAddress, registry: reporter.metrics.registry, ready: () => reporter.ready, routes: new ReporterDashboard({ reporter, drains }).routes(), logger: log.logger });
        }
        await drains.start();
        await reporter.start();
      },
      stop: () => {
        drains.close();
        return reporter.stop();
      },
    },
    log.logger,
  );
}
