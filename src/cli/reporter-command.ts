import { createDaemonLogger, defaultLogSettings } from '../lib/logger.js';
import { runUntilSignalled } from '../lib/lifecycle.js';
import { Reporter } from '../reporter/reporter.js';
import { reporterStatePath } from '../reporter/state-file.js';
import { applyDrainChange, DrainWatcher, drainFilePath, effectiveDrain, type Maintenance } from '../reporter/drains.js';
import { startHttpEndpoint } from './http-endpoint.js';
import { ReporterDashboard } from './reporter-dashboard.js';
import { assertConfigDir, loadRegistries, lockDaemon, logStartup, stateDirOf } from './common.js';
import type { DaemonCommandOptions } from './writer-command.js';

export async function runReporter(configDir: string, options: DaemonCommandOptions): Promise<void> {
  const log = createDaemonLogger('reporter', defaultLogSettings(), { level: options.logLevel });
  logStartup(log.logger, 'reporter', configDir);
  await assertConfigDir(configDir);
  const stateDir = stateDirOf(configDir, options.stateDir);
  await lockDaemon('reporter', configDir, stateDir, log.logger);
  const registries = await loadRegistries(configDir, options.plugin ?? [], log.logger);
  // Drains (`lighthouse drain`) are read before the first runner starts, so a drained port is never registered, not even briefly after a restart.
  const drains = new DrainWatcher(drainFilePath(configDir), log.logger.child({ module: 'drains' }));
  const reporter = new Reporter({ configDir, registries, log, drains, stateFile: reporterStatePath(stateDir) });
  const logMaintenance = (file: string, maintenance: Maintenance | undefined): void => {
    if (maintenance) log.logger.warn({ file, maintenance }, `maintenance on since ${maintenance.since}: ${maintenance.reason}; every service of this machine is drained (lighthouse maintenance CONFIG_DIR off ends it)`);
    else log.logger.info({ file }, 'maintenance ended: each service back in rotation once its checks pass, unless drained on its own');
  };
  drains.onChange((previous, next) => {
    // After a start on an unreadable file every service was drained as a whole; the file now says which stay drained.
    const before = (service: string) => (previous === 'unreadable' ? drains.unreadableEntry() : effectiveDrain(previous, service));
    // Maintenance (on, off, a new reason) concerns every service the reporter runs.
    const everyService = previous === 'unreadable' || JSON.stringify(previous.maintenance) !== JSON.stringify(next.maintenance);
    // After an unreadable start, only maintenance found in the file is news.
    if (previous === 'unreadable' ? next.maintenance !== undefined : everyService) logMaintenance(drains.path, next.maintenance);
    const services = everyService ? [...reporter.serviceNames(), ...Object.keys(next.services)] : [...Object.keys(previous.services), ...Object.keys(next.services)];
    for (const service of new Set(services)) {
      for (const runner of reporter.runnersOf(service)) applyDrainChange(runner, before(service), effectiveDrain(next, service));
    }
  });
  await runUntilSignalled(
    {
      start: async () => {
        if (options.metricsPort !== undefined) {
          await startHttpEndpoint({ port: options.metricsPort, address: options.metricsAddress, registry: reporter.metrics.registry, ready: () => reporter.ready, routes: new ReporterDashboard({ reporter, drains }).routes(), logger: log.logger });
        }
        await drains.start();
        const maintenance = drains.current()?.maintenance;
        if (maintenance) logMaintenance(drains.path, maintenance);
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
