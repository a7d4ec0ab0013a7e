import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RenderedBalancerConfig } from '../balancer/types.js';
import { formatProblem, type ConfigProblem, type RemovalGuardOverrides } from '../config/model.js';
import type { ConfigSnapshot } from '../config/snapshot.js';
import { nodeKey, type ClusterNode } from '../discovery/node.js';
import { errorMessage } from '../lib/errors.js';
import { redactText, redactSecrets } from '../lib/redact-secrets.js';
import { silentLogger } from '../lib/logger.js';
import { loadMemberCache } from '../writer/member-cache.js';
import { guardSettings } from '../writer/removal-guard.js';
import { balancedClusters } from './balanced-clusters.js';
import { checkConfigDir } from './check-config-command.js';
import { assertConfigDir, loadRegistries, stateDirOf } from './common.js';
import { CliExit, writeOut } from './output.js';

export interface ConfigDumpOptions {
  json?: boolean;
  plugin?: string[];
  stateDir?: string;
}

interface BalancerDump {
  name: string;
  /** the balancer file */
  file: string;
  /** null when the plugin cannot render its config */
  rendered: RenderedBalancerConfig | null;
  error?: string;
}

/** The cluster's removal guard in force: its file's settings over its discovery file's over the built-in defaults, as the writer merges them. */
function effectiveGuard(cluster: RemovalGuardOverrides, discovery: RemovalGuardOverrides | undefined): Record<string, unknown> {
  const settings = guardSettings(cluster, guardSettings(discovery ?? {}));
  return { enabled: settings.enabled, min_members: settings.minMembers, panic_threshold: settings.panicThreshold, window: settings.windowMs / 1000, probe_held: settings.probeHeld };
}

/** The validated model, defaults filled in, in the files' own vocabulary; no hashes or internal fields. */
function modelOf(snapshot: ConfigSnapshot): Record<string, unknown> {
  const byName = <T extends { name: string }>(items: Iterable<T>) => [...items].sort((a, b) => a.name.localeCompare(b.name));
  // Credentials redacted, so a dump can be pasted into a ticket.
  return redactSecrets({
    balancers: byName(snapshot.balancers.values()).map(({ name, file, plugin, config }) => ({ name, file, plugin, config })),
    discovery: byName(snapshot.discovery.values()).map(({ name, file, plugin, config, advertise, removalGuard }) => ({ name, file, plugin, config, advertise, removal_guard: removalGuard })),
    clusters: byName(snapshot.clusters.values()).map(({ name, file, discovery, metaCluster, balancer, removalGuard }) => ({ name, file, discovery, meta_cluster: metaCluster ?? null, ...balancer, removal_guard: effectiveGuard(removalGuard, snapshot.discovery.get(discovery)?.removalGuard) })),
    services: byName(snapshot.services.values()).map(({ name, file, discovery, host, ports, metadata, intervalMs, checks, advertise }) => ({
      name,
      file,
      discovery,
      host,
      ports,
      advertise,
      metadata,
      checks: { interval: intervalMs / 1000, ...Object.fromEntries(checks.map((check) => [check.kind, { rise: check.rise, fall: check.fall, timeout: check.timeoutMs / 1000, ...(check.config as object) }])) },
    })),
  }) as Record<string, unknown>;
}

/** The rendered config as shown: directive lines that carry credentials (`stats auth`) redacted like the model. */
function redactedRender(rendered: RenderedBalancerConfig | undefined): RenderedBalancerConfig | null {
  return rendered ? { ...rendered, text: redactText(rendered.text) } : null;
}

/**
 * `lighthouse config-dump`: what is in force once the daemons read CONFIG_DIR
 * (like Envoy's /config_dump): the merged, validated model with every default
 * filled in, and the HAProxy config it renders, with the writer's last known
 * members (its member cache) as server lines. Files with problems are left
 * out of the model, as the daemons leave them out; the problems are listed.
 */
export async function runConfigDump(configDir: string, options: ConfigDumpOptions): Promise<void> {
  await assertConfigDir(configDir);
  const registries = await loadRegistries(configDir, options.plugin ?? [], silentLogger());
  const { problems, snapshot } = await checkConfigDir(configDir, registries);
  const membersFile = join(stateDirOf(configDir, options.stateDir), 'writer-members.json');
  const members: ReadonlyMap<string, readonly ClusterNode[]> = await loadMemberCache(membersFile);
  const balancers: BalancerDump[] = [];
  for (const item of [...snapshot.balancers.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const plugin = registries.balancers.get(item.plugin);
    if (!plugin) continue; // an unknown plugin is among the problems
    try {
      const balancer = plugin.create(item.config, { logger: silentLogger(), name: item.name, file: item.file, now: Date.now });
      try {
        balancers.push({ name: item.name, file: item.file, rendered: redactedRender(balancer.render?.(balancedClusters(snapshot, item, plugin, members))) });
      } finally {
        await balancer.close().catch(() => undefined);
      }
    } catch (error) {
      balancers.push({ name: item.name, file: item.file, rendered: null, error: errorMessage(error) });
    }
  }
  const model = modelOf(snapshot);
  const memberCounts = Object.fromEntries([...snapshot.clusters.keys()].sort().map((name) => [name, (members.get(name) ?? []).map(nodeKey)]));
  // As check-config --json prints them: the code the daemons log each under.
  const entries = (list: readonly ConfigProblem[]) => list.map(({ file, setting, line, message, code }) => ({ file, setting, line, message, code: code ?? 'LH_CONFIG_INVALID' }));
  if (options.json) {
    await writeOut(`${JSON.stringify({ configDir, valid: problems.length === 0, problems: entries(problems), model, members: { file: membersFile, clusters: memberCounts }, balancers })}\n`);
  } else {
    const out: string[] = [`# lighthouse config-dump ${configDir}: ${problems.length === 0 ? 'valid' : `${problems.length} problem${problems.length === 1 ? '' : 's'} (those files are left out below; a running daemon keeps their last good version)`}`];
    for (const problem of problems) out.push(`# problem: ${formatProblem(problem)}`);
    out.push('', '# --- model (validated, defaults filled in)', stringify(model).trimEnd());
    for (const balancer of balancers) {
      out.push('', `# --- balancer ${balancer.name} (${balancer.file})`);
      if (!balancer.rendered) {
        out.push(`# cannot render: ${balancer.error ?? 'this balancer plugin does not render its config'}`);
        continue;
      }
      const known = Object.values(memberCounts).reduce((sum, nodes) => sum + nodes.length, 0);
      out.push(`# rendered for ${balancer.rendered.file}; server lines: the writer's last known members (${known} in ${membersFile})`, balancer.rendered.text.trimEnd());
    }
    await writeOut(`${out.join('\n')}\n`);
  }
  if (problems.length > 0) throw new CliExit(1);
}
