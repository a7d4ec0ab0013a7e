import { ConfigDirectory } from '../config/directory.js';
import { LighthouseError, errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { drainFilePath, readDrains, updateDrains, withMaintenance, withoutMaintenance, type DrainState } from '../reporter/drains.js';
import { assertConfigDir, loadRegistries } from './common.js';
import { CliExit, fail, writeOut } from './output.js';

export interface MaintenanceOptions {
  reason?: string;
  plugin?: string[];
}

/**
 * Node-wide maintenance: every service of the machine drained at once, by
 * the same drain file the reporter already follows (`lighthouse drain`), so
 * it survives reporter restarts and covers services added meanwhile. The
 * services' own drains stay recorded underneath and are in force again after
 * `off`.
 */
export async function runMaintenance(configDir: string, action: string | undefined, options: MaintenanceOptions): Promise<void> {
  await assertConfigDir(configDir);
  const path = drainFilePath(configDir);
  if (action !== undefined && action !== 'on' && action !== 'off') fail(`maintenance: "${action}" is not on, off or nothing (show)`);
  if (action === undefined) {
    const state = await readOrFail(path);
    await writeOut(state.maintenance ? `maintenance on since ${state.maintenance.since}: ${state.maintenance.reason}\n` : 'maintenance off\n');
    return;
  }
  if (action === 'on') {
    const reason = options.reason ?? `maintenance by ${process.env.USER ?? 'an operator'}`;
    const state = await change(path, (before) => withMaintenance(before, reason, new Date()));
    const services = await serviceNames(configDir, options.plugin ?? []);
    await writeOut(
      `maintenance on since ${state.maintenance!.since} (${reason}): the reporter deregisters every service of this machine (${typeof services === 'string' ? services : services.join(', ') || 'none configured yet'}) and keeps checking them; services added meanwhile are drained too. Recorded in ${path}.\n`,
    );
    return;
  }
  let was = true;
  const state = await change(path, (before) => {
    was = before.maintenance !== undefined;
    return was ? withoutMaintenance(before) : undefined;
  });
  if (!was) {
    await writeOut('maintenance: not on; nothing to do.\n');
    return;
  }
  const stillDrained = Object.keys(state.services).sort();
  await writeOut(`maintenance off: services back in rotation once their checks pass${stillDrained.length > 0 ? ` (still drained on their own: ${stillDrained.join(', ')}; see lighthouse status)` : ''}.\n`);
}

async function change(path: string, update: (state: DrainState) => DrainState | undefined): Promise<DrainState> {
  try {
    return await updateDrains(path, update);
  } catch (error) {
    fail(coded(error));
  }
}

async function readOrFail(path: string): Promise<DrainState> {
  try {
    return await readDrains(path);
  } catch (error) {
    fail(coded(error));
  }
}

/**
 * The services the reporter of this dir runs, for the message only: a config
 * the CLI cannot load (a plugin package removed mid-upgrade) must not keep an
 * operator from taking the machine out of rotation, so it is reported
 * (stderr) and the list is "unknown".
 */
async function serviceNames(configDir: string, plugins: readonly string[]): Promise<string[] | string> {
  try {
    const registries = await loadRegistries(configDir, plugins, silentLogger());
    const scan = await new ConfigDirectory(configDir, registries, ['discovery', 'service']).scan();
    return [...scan.snapshot.services.keys()].sort();
  } catch (error) {
    const why = error instanceof CliExit ? (error.stderrLine ?? '').trim().replace(/^lighthouse: /, '') : coded(error);
    process.stderr.write(`lighthouse: maintenance recorded, but the services cannot be listed: ${why}\n`);
    return 'services unknown: the config cannot be loaded, see above';
  }
}

function coded(error: unknown): string {
  return error instanceof LighthouseError ? `${error.code}: ${error.message}` : errorMessage(error);
}
