import { ConfigDirectory } from '../config/directory.js';
import { formatProblem, type DiscoveryItem, type ServiceItem } from '../config/model.js';
import { nodeKey } from '../discovery/node.js';
import type { Discovery } from '../discovery/types.js';
import { LighthouseError, errorMessage, type ErrorCode } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { drainFilePath, updateDrains, withDrain, withoutDrain, type Maintenance } from '../reporter/drains.js';
import { advertisedAddress, resolveLocalIdentity } from '../reporter/local-identity.js';
import { waitForAcks, watchCluster, type AckWaitOutcome } from './drain-wait.js';
import { assertConfigDir, loadRegistries } from './common.js';
import { fail, writeOut } from './output.js';

export interface DrainCommandOptions {
  port?: number[];
  reason?: string;
  plugin?: string[];
  /** wait until every live writer consuming the cluster acknowledged (docs/fleet-safety.md) */
  wait?: boolean;
  /** seconds --wait waits at most */
  timeout?: number;
}

/** Default of --timeout: long enough for a writer's drain deadline plus a record write. */
const DEFAULT_WAIT_SECONDS = 60;

interface FoundService {
  item: ServiceItem;
  discovery: DiscoveryItem | undefined;
  registries: PluginRegistries;
}

/** The service as the reporter would see it; exits 1 naming the file when it does not exist or is invalid. */
async function findService(configDir: string, service: string, plugins: readonly string[]): Promise<FoundService> {
  const registries = await loadRegistries(configDir, plugins, silentLogger());
  const scan = await new ConfigDirectory(configDir, registries, ['discovery', 'service']).scan();
  const item = scan.snapshot.services.get(service);
  if (!item) {
    const problems = scan.problems.filter((problem) => problem.file.includes(service));
    const known = [...scan.snapshot.services.keys()].sort();
    fail(`${configDir}: no service "${service}" (services: ${known.join(', ') || 'none'})${problems.length ? `; ${problems.map(formatProblem).join('; ')}` : ''}`);
  }
  return { item, discovery: scan.snapshot.discovery.get(item.discovery), registries };
}

/** A watch on the service's cluster, opened before the drain file changes (so the change arrives as an event). */
interface Waiter {
  discovery: Discovery;
  item: DiscoveryItem;
  watch: ReturnType<typeof watchCluster>;
  nodes: string[];
}

async function openWaiter(found: FoundService, ports: number[] | 'all'): Promise<Waiter> {
  const { item, discovery: discoveryItem, registries } = found;
  if (!discoveryItem) fail(`${item.file}: discovery: "${item.discovery}" is not configured (no discovery/${item.discovery}.yaml): --wait has nowhere to look`);
  const plugin = registries.discovery.get(discoveryItem.plugin);
  if (!plugin) fail(`${discoveryItem.file}: plugin "${discoveryItem.plugin}" is not registered`);
  const address = advertisedAddress(await resolveLocalIdentity(), discoveryItem.advertise, item.advertise);
  const nodes = (ports === 'all' ? item.ports : ports).map((port) => nodeKey({ host: address.host, port }));
  const discovery = plugin.create(discoveryItem.config, { logger: silentLogger(), name: discoveryItem.name, file: discoveryItem.file, now: Date.now });
  return { discovery, item: discoveryItem, watch: watchCluster(discovery, item.name), nodes };
}

const ACK_TIMEOUT: ErrorCode = 'LH_ACK_TIMEOUT';

/** Prints the outcome of --wait; exits 1 naming the writers that did not acknowledge. */
async function finishWait(waiter: Waiter, cluster: string, want: 'absent' | 'present', timeoutSeconds: number): Promise<void> {
  let outcome: AckWaitOutcome;
  try {
    outcome = await waitForAcks(waiter.discovery, waiter.item, waiter.watch, { cluster, nodes: waiter.nodes, want }, timeoutSeconds * 1000);
  } finally {
    waiter.watch.close();
    await waiter.discovery.close().catch(() => undefined);
  }
  const what = want === 'absent' ? `without ${waiter.nodes.join(', ')}` : `with ${waiter.nodes.join(', ')}`;
  if (outcome.ok) {
    const names = outcome.writers.map((writer) => writer.writer);
    await writeOut(names.length === 0 ? `${cluster}: no live writer consumes this cluster; nothing to wait for.\n` : `${cluster}: all ${names.length} live writers run a member set ${what} (version ${outcome.version ?? '?'})${want === 'absent' ? ' and have no sessions on it' : ''}: ${names.join(', ')}\n`);
    return;
  }
  if (outcome.stage === 'discovery') fail(`${ACK_TIMEOUT}: ${outcome.message}`);
  const missing = outcome.writers.filter((writer) => !writer.acknowledged);
  fail(`${ACK_TIMEOUT}: ${waiter.item.file}: cluster "${cluster}": ${missing.length} of ${outcome.writers.length} writers did not acknowledge a member set ${what} within ${timeoutSeconds} s: ${missing.map((writer) => `${writer.writer} (${writer.reason ?? 'no answer'})`).join('; ')}`);
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
  const found = await findService(configDir, service, options.plugin ?? []);
  const ports = portsOf(found.item, options.port);
  const waiter = options.wait ? await openWaiter(found, ports) : undefined;
  const path = drainFilePath(configDir);
  const reason = options.reason ?? `drained by ${process.env.USER ?? 'an operator'}`;
  try {
    await updateDrains(path, (state) => withDrain(state, service, ports, reason, new Date()));
  } catch (error) {
    fail(coded(error));
  }
  await writeOut(`${service}: ${ports === 'all' ? 'all ports' : `port ${ports.join(', ')}`} drained (${reason}); the reporter deregisters ${ports === 'all' || ports.length > 1 ? 'them' : 'it'} and keeps checking. Recorded in ${path}.\n`);
  if (waiter) await finishWait(waiter, service, 'absent', options.timeout ?? DEFAULT_WAIT_SECONDS);
}

export async function runUndrain(configDir: string, service: string, options: DrainCommandOptions): Promise<void> {
  await assertConfigDir(configDir);
  const found = await findService(configDir, service, options.plugin ?? []);
  const { item } = found;
  const ports = portsOf(item, options.port);
  const waiter = options.wait ? await openWaiter(found, ports) : undefined;
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
  if (!drained) await writeOut(`${service}: not drained; nothing to do.${held}\n`);
  else await writeOut(`${service}: ${ports === 'all' ? 'all ports' : `port ${ports.join(', ')}`} ${maintenance ? 'no longer drained on its own.' : 'back in rotation once the checks pass.'}${held}\n`);
  if (!waiter) return;
  if (maintenance) {
    waiter.watch.close();
    await waiter.discovery.close().catch(() => undefined);
    fail(`${ACK_TIMEOUT}: ${configDir}: --wait: the machine is in maintenance, so ${waiter.nodes.join(', ')} stays out of rotation; nothing to wait for`);
  }
  // Not drained still waits: a deploy script's ExecStartPost wants the node routed, whatever the drain file said.
  await finishWait(waiter, service, 'present', options.timeout ?? DEFAULT_WAIT_SECONDS);
}
