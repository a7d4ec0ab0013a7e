import { ConfigDirectory } from '../config/directory.js';
import { formatProblem, type ServiceItem } from '../config/model.js';
import { LighthouseError, errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { drainFilePath, updateDrains, withDrain, withoutDrain, type Maintenance } from '../reporter/drains.js';
import { assertConfigDir, loadRegistries } from './common.js';
import { fail, writeOut } from './output.js';

export interface DrainCommandOptions {
  port?: number[];
  reason?: string;
  plugin?: string[];
}

/** The service as the reporter would see it; exits 1 naming the file when it does not exist or is invalid. */
async function findService(configDir: string, service: string, plugins: readonly string[]): Promise<ServiceItem> {
  const registries = await loadRegistries(configDir, plugins, silentLogger());
  const scan = await new ConfigDirectory(configDir, registries, ['discovery', 'service']).scan();
  const item = scan.snapshot.services.get(service);
  if (!item) {
    const problems = scan.problems.filter((problem) => problem.file.includes(service));
    const known = [...scan.snapshot.services.keys()].sort();
    fail(`${configDir}: no service "${service}" (services: ${known.join(', ') || 'none'})${problems.length ? `; ${problems.map(formatProblem).join('; ')}` : ''}`);
  }
  return item;
}

function portsOf(item: ServiceItem, requested: readonly number[] | undefined): number[] | 'all' {
  if (!requested || requested.length === 0) return 'all';
  const unknown = requested.filter((port) => !item.ports.includes(port));
  if (unknown.length > 0) fail(`${item.file}: ports: service "${item.name}" has no port ${unknown.join(', ')} (ports: ${item.ports.join(', ')})`);
  return [...new Set(requested)].sort((a, b) => a - b);
}

/** `CODE: where: message`, as every other command prints a coded error. */
function coded(error: unknown): string {
  return error instanceof LighthouseError ? `${error.code}: ${error.message}` : errorMessage(error);
}

export async function runDrain(configDir: string, service: string, options: DrainCommandOptions): Promise<void> {
  await assertConfigDir(configDir);
  const item = await findService(configDir, service, options.plugin ?? []);
  const ports = portsOf(item, options.port);
  const path = drainFilePath(configDir);
  const reason = options.reason ?? `drained by ${process.env.USER ?? 'an operator'}`;
  try {
    await updateDrains(path, (state) => withDrain(state, service, ports, reason, new Date()));
  } catch (error) {
    fail(coded(error));
  }
  await writeOut(`${service}: ${ports === 'all' ? 'all ports' : `port ${ports.join(', ')}`} drained (${reason}); the reporter deregisters ${ports === 'all' || ports.length > 1 ? 'them' : 'it'} and keeps checking. Recorded in ${path}.\n`);
}

export async function runUndrain(configDir: string, service: string, options: DrainCommandOptions): Promise<void> {
  await assertConfigDir(configDir);
  const item = await findService(configDir, service, options.plugin ?? []);
  const ports = portsOf(item, options.port);
  const path = drainFilePath(configDir);
  let drained = true;
  let maintenance: Maintenance | undefined;
  try {
    await updateDrains(path, (state) => {
      drained = state.services[service] !== undefined;
      maintenance = state.maintenance;
      return drained ? withoutDrain(state, service, ports, item.ports) : undefined;
    });
  } catch (error) {
    fail(coded(error));
  }
  // Node-wide maintenance outranks a service's own drain: saying "back in rotation" would be wrong while it lasts.
  const held = maintenance ? ` The machine is in maintenance since ${maintenance.since} (${maintenance.reason}): every service stays drained until \`lighthouse maintenance ${configDir} off\`.` : '';
  if (!drained) {
    await writeOut(`${service}: not drained; nothing to do.${held}\n`);
    return;
  }
  await writeOut(`${service}: ${ports === 'all' ? 'all ports' : `port ${ports.join(', ')}`} ${maintenance ? 'no longer drained on its own.' : 'back in rotation once the checks pass.'}${held}\n`);
}
