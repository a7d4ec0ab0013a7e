import type { Metadata } from '../discovery/node.js';
import type { LogSettings } from '../lib/logger.js';
import { oneLine } from '../lib/one-line.js';
import type { ErrorCode } from '../lib/errors.js';

/** The kinds of item a config directory holds, each in its own folder (logging at the root). */
export type ItemKind = 'logging' | 'balancer' | 'discovery' | 'cluster' | 'service' | 'plugins';

export const KIND_FOLDERS: Record<Exclude<ItemKind, 'logging' | 'plugins'>, string> = {
  balancer: 'balancers',
  discovery: 'discovery',
  cluster: 'clusters',
  service: 'services',
};

interface ItemBase {
  /** file name without extension, or the file's top-level `name:` */
  name: string;
  /** path of the file the item came from */
  file: string;
  /** hash of the validated content: equal hashes mean nothing to do on reload */
  hash: string;
  /** settings accepted but ignored (the original's that mean nothing here): logged and printed, never fatal */
  warnings?: readonly ConfigProblem[];
}

/** Address a reporter advertises for its nodes when the defaults (FQDN, its IPv4) are wrong. */
export interface Advertise {
  host?: string;
  ip?: string;
  peer_port?: number;
}

export interface DiscoveryItem extends ItemBase {
  kind: 'discovery';
  plugin: string;
  config: unknown;
  advertise: Advertise;
  /** writer only: removal-guard defaults for the clusters on this backend */
  removalGuard: RemovalGuardOverrides;
}

export interface BalancerItem extends ItemBase {
  kind: 'balancer';
  plugin: string;
  config: unknown;
}

export interface ClusterItem extends ItemBase {
  kind: 'cluster';
  discovery: string;
  metaCluster: string | undefined;
  /** per balancer kind (e.g. `haproxy`), the section validated by that balancer plugin */
  balancer: Record<string, unknown>;
  /** the file's `removal_guard:` settings; what is left out takes the writer-wide defaults */
  removalGuard: RemovalGuardOverrides;
}

export interface RemovalGuardOverrides {
  enabled?: boolean;
  min_members?: number;
  panic_threshold?: number;
  window?: number;
  probe_held?: boolean;
}

export interface CheckSpec {
  /** check plugin kind: `http`, `tcp`, `redis`, ... */
  kind: string;
  rise: number;
  fall: number;
  timeoutMs: number;
  /** plugin-owned settings, validated by the plugin's schema */
  config: unknown;
}

export interface ServiceItem extends ItemBase {
  kind: 'service';
  discovery: string;
  /** what the checks connect to, when set in the file; else the registered address (see checkHost) */
  host?: string;
  ports: number[];
  metadata: Metadata;
  intervalMs: number;
  checks: CheckSpec[];
  advertise: Advertise;
}

export interface LoggingItem extends ItemBase {
  kind: 'logging';
  settings: LogSettings;
}

export interface PluginsItem extends ItemBase {
  kind: 'plugins';
  packages: string[];
}

export type ConfigItem = DiscoveryItem | BalancerItem | ClusterItem | ServiceItem | LoggingItem | PluginsItem;

/** One thing wrong with one file, in the form `file: setting: message`. */
export interface ConfigProblem {
  file: string;
  setting?: string;
  line?: number;
  message: string;
  /** the LH_ code the daemons log it under (docs/errors.md); absent: LH_CONFIG_INVALID */
  code?: ConfigProblemCode;
  /** what the daemon does about it, when not "the last good version stays in force" */
  outcome?: string;
}

/** The codes a config problem is logged under; anything else is LH_CONFIG_INVALID. */
export type ConfigProblemCode = Extract<ErrorCode, 'LH_CONFIG_PARSE' | 'LH_CONFIG_INVALID' | 'LH_CONFIG_DIRECTIVE' | 'LH_CONFIG_REFERENCE' | 'LH_PLUGIN_UNKNOWN'>;

const CONFIG_PROBLEM_CODES: readonly string[] = ['LH_CONFIG_PARSE', 'LH_CONFIG_INVALID', 'LH_CONFIG_DIRECTIVE', 'LH_CONFIG_REFERENCE', 'LH_PLUGIN_UNKNOWN'] satisfies ConfigProblemCode[];

/**
 * A plugin schema may name the code of an issue it raises: zod's custom
 * issue `params: { code: 'LH_CONFIG_DIRECTIVE' }`. Only the config codes
 * count; anything else is LH_CONFIG_INVALID.
 */
export function isConfigProblemCode(value: unknown): value is ConfigProblemCode {
  return typeof value === 'string' && CONFIG_PROBLEM_CODES.includes(value);
}

/** A warning in the problem's one-line form, marked so it is not mistaken for an error. */
export function formatWarning(warning: ConfigProblem): string {
  return formatProblem({ ...warning, message: `warning: ${warning.message}` });
}

/** Always one line: file names, setting names and messages can hold line breaks (they are escaped). */
export function formatProblem(problem: ConfigProblem): string {
  const setting = problem.setting ? `${oneLine(problem.setting)}${problem.line ? ` (line ${problem.line})` : ''}: ` : problem.line ? `line ${problem.line}: ` : '';
  return `${oneLine(problem.file)}: ${setting}${oneLine(problem.message)}`;
}
