import { basename, dirname, join } from 'node:path';
import { ConfigDirectory } from '../config/directory.js';
import { formatProblem, formatWarning, KIND_FOLDERS, type ConfigProblem } from '../config/model.js';
import { snapshotWarnings, type ConfigSnapshot } from '../config/snapshot.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { oneLine } from '../lib/one-line.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { balancedClusters } from './balanced-clusters.js';
import { assertConfigDir, loadRegistries } from './common.js';
import { CliExit, writeOut } from './output.js';

export interface CheckConfigOptions {
  plugin?: string[];
  json?: boolean;
}

/**
 * Everything wrong with a config directory, as the daemons would see it, plus
 * what only shows when the files are taken together: references between
 * files, and the HAProxy config they render (checked with `haproxy -c`).
 */
export async function checkConfigDir(configDir: string, registries: PluginRegistries): Promise<{ problems: ConfigProblem[]; snapshot: ConfigSnapshot }> {
  const scan = await new ConfigDirectory(configDir, registries).scan();
  const { snapshot } = scan;
  const problems = [...scan.problems];

  // A discovery file that exists but is invalid has its own problem line already: the clusters and services using it are not also "not configured".
  const discoveryDir = join(configDir, KIND_FOLDERS.discovery);
  const brokenDiscovery = new Set(scan.problems.filter((problem) => dirname(problem.file) === discoveryDir).map((problem) => basename(problem.file).replace(/\.ya?ml$/, '')));
  for (const item of [...snapshot.clusters.values(), ...snapshot.services.values()]) {
    if (!snapshot.discovery.has(item.discovery) && !brokenDiscovery.has(item.discovery)) {
      const known = [...snapshot.discovery.keys()];
      problems.push({ file: item.file, setting: 'discovery', message: `"${item.discovery}" is not configured (no ${join(configDir, KIND_FOLDERS.discovery, `${item.discovery}.yaml`)}; defined: ${known.join(', ') || 'none'})`, code: 'LH_CONFIG_REFERENCE' });
    }
  }
  const nothing = snapshot.balancers.size + snapshot.discovery.size + snapshot.clusters.size + snapshot.services.size === 0;
  if (nothing && scan.problems.length === 0) {
    problems.push({ file: configDir, message: `no config files found (expected ${Object.values(KIND_FOLDERS).map((folder) => `${folder}/`).join(', ')} with .yaml files): is this the right directory?` });
  }
  const balancerDir = join(configDir, KIND_FOLDERS.balancer);
  const brokenBalancer = scan.problems.some((problem) => problem.file.startsWith(balancerDir));
  if (snapshot.clusters.size > 0 && snapshot.balancers.size === 0 && !brokenBalancer) {
    problems.push({ file: balancerDir, message: `no balancer file: the ${snapshot.clusters.size} cluster(s) would be watched but not balanced` });
  }

  for (const balancerItem of snapshot.balancers.values()) {
    const plugin = registries.balancers.get(balancerItem.plugin);
    if (!plugin) continue; // already reported by the scan as an unknown plugin
    const clusters = balancedClusters(snapshot, balancerItem, plugin);
    let balancer;
    try {
      balancer = plugin.create(balancerItem.config, { logger: silentLogger(), name: balancerItem.name, file: balancerItem.file, now: Date.now });
    } catch (error) {
      problems.push({ file: balancerItem.file, message: `cannot set up balancer "${balancerItem.name}": ${errorMessage(error)}` });
      continue;
    }
    try {
      for (const problem of await balancer.validate(clusters)) {
        const cluster = /^cluster "([^"]+)"/.exec(problem.subject)?.[1];
        const clusterItem = cluster === undefined ? undefined : snapshot.clusters.get(cluster);
        if (clusterItem) problems.push({ file: clusterItem.file, setting: settingNamed(problem.message, balancerItem.plugin), message: problem.message });
        else {
          const setting = /^balancer setting (.+)$/.exec(problem.subject)?.[1] ?? (problem.subject === balancerItem.plugin ? undefined : problem.subject);
          problems.push({ file: balancerItem.file, setting, message: problem.message });
        }
      }
    } catch (error) {
      problems.push({ file: balancerItem.file, message: `could not validate: ${errorMessage(error)}` });
    } finally {
      await balancer.close().catch(() => undefined);
    }
  }
  return { problems, snapshot };
}

/** The cluster-file setting a balancer's message is about, so the line points at what to edit. */
function settingNamed(message: string, pluginKind: string): string {
  if (message.includes('meta_cluster')) return 'meta_cluster';
  // `haproxy -c` refusing a line the cluster's own `frontend:` or `backend:` list produced (the render names its owner so).
  const section = /\(from cluster "[^"]+" (frontend|backend)\)/.exec(message)?.[1];
  if (section) return `${pluginKind}.${section}`;
  const setting = new RegExp(`\\b${pluginKind}\\.([a-z_]+)`).exec(message)?.[0];
  return setting ?? pluginKind;
}

export async function runCheckConfig(configDir: string, options: CheckConfigOptions): Promise<void> {
  await assertConfigDir(configDir);
  const registries = await loadRegistries(configDir, options.plugin ?? [], silentLogger());
  const { problems, snapshot } = await checkConfigDir(configDir, registries);
  const counts = {
    balancers: snapshot.balancers.size,
    discovery: snapshot.discovery.size,
    clusters: snapshot.clusters.size,
    services: snapshot.services.size,
  };
  // Warnings (settings accepted and ignored) are printed but never fail the check.
  const warnings = snapshotWarnings(snapshot);
  if (options.json) {
    // JSON.stringify escapes every control character, so a file name with a line break stays one valid document.
    const entries = (list: readonly ConfigProblem[], code: (problem: ConfigProblem) => string) => list.map((problem) => ({ file: problem.file, setting: problem.setting, line: problem.line, message: problem.message, code: code(problem) }));
    const json = { configDir, valid: problems.length === 0, problems: entries(problems, (problem) => problem.code ?? 'LH_CONFIG_INVALID'), warnings: entries(warnings, () => 'LH_CONFIG_IGNORED'), counts };
    await writeOut(`${JSON.stringify(json)}\n`);
    if (problems.length > 0) throw new CliExit(1);
    return;
  }
  // One line per problem: formatProblem escapes line breaks in file names, settings and messages.
  const warningLines = warnings.map((warning) => `${formatWarning(warning)}\n`).join('');
  if (problems.length > 0) {
    await writeOut(warningLines + problems.map((problem) => `${formatProblem(problem)}\n`).join(''));
    throw new CliExit(1, `${oneLine(configDir)}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  }
  const described = [
    [counts.balancers, 'balancer'],
    [counts.discovery, 'discovery backend'],
    [counts.clusters, 'cluster'],
    [counts.services, 'service'],
  ] as const;
  await writeOut(
    `${warningLines}${oneLine(configDir)}: valid (${described.map(([count, what]) => `${count} ${what}${count === 1 ? '' : 's'}`).join(', ')}${counts.balancers > 0 ? '; the rendered HAProxy config passes haproxy -c' : ''}${warnings.length > 0 ? `; ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''})\n`,
  );
}
