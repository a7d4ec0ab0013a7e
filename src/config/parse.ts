import { createHash } from 'node:crypto';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Pair, type YAMLMap } from 'yaml';
import type { z } from 'zod';
import type { PluginRegistries } from '../plugins/registry.js';
import { fail, ok, type Result } from '../lib/result.js';
import { defaultLogSettings } from '../lib/logger.js';
import type { Metadata } from '../discovery/node.js';
import { metadataProblem } from '../discovery/codec.js';
import { didYouMean } from '../lib/did-you-mean.js';
import { readPythonMetadata } from './python-yaml.js';
import { settingNamesAt } from './setting-names.js';
import { yamlErrorMessage } from './yaml-error.js';
import { duplicateKeyErrors } from './duplicate-keys.js';
import { fromDictConfig, isDictConfig } from './python-logging.js';
import { isConfigProblemCode, type CheckSpec, type ConfigItem, type ConfigProblem, type ConfigProblemCode, type ItemKind } from './model.js';
import {
  advertiseSchema,
  checkCoreSchema,
  clusterCoreSchema,
  loggingSchema,
  pluginFileKeys,
  pluginsFileSchema,
  removalGuardSchema,
  serviceSchema,
} from './schemas.js';
import { isItemName, ITEM_NAME_RULE } from '../lib/schemas.js';

type Path = readonly (string | number)[];
type Parsed = Result<ConfigItem, ConfigProblem[]>;

/** Text of a YAML document plus a way to turn a setting path into a line number. */
interface Source {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

/**
 * Parses and validates one config file of the given kind. Every problem names
 * the file and the setting (with its line when the YAML has it), so the
 * operator can fix the file without reading our code.
 */
export function parseConfigFile(kind: ItemKind, file: string, text: string, defaultName: string, registries: PluginRegistries): Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: false });
  const errors = doc.errors.length > 0 ? doc.errors : duplicateKeyErrors(doc, lines);
  if (errors.length > 0) {
    return fail(errors.map((error) => ({ file, line: error.linePos?.[0]?.line, message: `invalid YAML: ${yamlErrorMessage(error, text)}`, code: 'LH_CONFIG_PARSE' })));
  }
  const source: Source = { file, doc, lines };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return fail([{ file, message: `invalid YAML: ${(error as Error).message}`, code: 'LH_CONFIG_PARSE' }]);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) return fail([{ file, message: 'the top level must be a mapping of settings' }]);
  const body = raw as Record<string, unknown>;
  const nameResult = itemName(source, body, defaultName);
  if (!nameResult.ok) return nameResult;
  const name = nameResult.value;

  switch (kind) {
    case 'logging': {
      if (isDictConfig(body)) {
        // The original's logging.yaml (Python dictConfig): mapped, with a warning for each part that is not.
        const mapped = fromDictConfig(body, defaultLogSettings().format);
        if (!mapped.ok) return fail(mapped.error.map((issue) => problem(source, issue.path, issue.message)));
        const { settings } = mapped.value;
        const warnings = mapped.value.warnings.map((issue) => problem(source, issue.path, issue.message));
        return ok({ kind, name, file, hash: hashOf(settings), warnings, settings });
      }
      const parsed = validate(source, loggingSchema, body, []);
      if (!parsed.ok) return parsed;
      const settings = { ...parsed.value, format: parsed.value.format ?? defaultLogSettings().format };
      return ok({ kind, name, file, hash: hashOf(settings), settings });
    }
    case 'plugins': {
      const parsed = validate(source, pluginsFileSchema, body, []);
      if (!parsed.ok) return parsed;
      return ok({ kind, name, file, hash: hashOf(parsed.value.plugins), packages: parsed.value.plugins });
    }
    case 'discovery':
    case 'balancer':
      return parsePluginFile(source, kind, name, body, registries);
    case 'cluster':
      return parseCluster(source, name, body, registries);
    case 'service':
      return parseService(source, name, body, registries, text);
  }
}

function itemName(source: Source, body: Record<string, unknown>, defaultName: string): Result<string, ConfigProblem[]> {
  const name = body.name ?? defaultName;
  if (!isItemName(name)) {
    return fail([problem(source, ['name'], `${JSON.stringify(name)} is not a valid name (${ITEM_NAME_RULE})`)]);
  }
  return ok(name);
}

function parsePluginFile(source: Source, kind: 'discovery' | 'balancer', name: string, body: Record<string, unknown>, registries: PluginRegistries): Parsed {
  const { name: _name, plugin: pluginField, advertise: advertiseField, removal_guard: guardField, ...rest } = body;
  const pluginKind = pluginField ?? name;
  const registry = kind === 'discovery' ? registries.discovery : registries.balancers;
  if (typeof pluginKind !== 'string' || registry.get(pluginKind) === undefined) {
    const known = registry.kinds().join(', ') || 'none';
    const setting = pluginField === undefined ? [] : ['plugin'];
    return fail([problem(source, setting, `unknown ${kind} plugin ${JSON.stringify(pluginKind)} (registered: ${known})`, 'LH_PLUGIN_UNKNOWN')]);
  }
  const plugin = registry.get(pluginKind)!;
  if (kind === 'balancer' && advertiseField !== undefined) return fail([problem(source, ['advertise'], 'unknown setting')]);
  if (kind === 'balancer' && guardField !== undefined) return fail([problem(source, ['removal_guard'], 'unknown setting (removal_guard belongs in a discovery or cluster file)')]);
  const guard = validate(source, removalGuardSchema, guardField ?? {}, ['removal_guard']);
  if (!guard.ok) return guard;
  const advertise = validate(source, advertiseSchema, advertiseField ?? {}, ['advertise']);
  if (!advertise.ok) return advertise;
  const stripped = plugin.ignoreSettings?.(rest) ?? { body: rest, ignored: [] };
  const config = validate(source, plugin.schema, stripped.body, [], pluginFileKeys);
  if (!config.ok) return config;
  const hash = hashOf({ pluginKind, config: config.value, advertise: advertise.value, ...(guardField === undefined ? {} : { removalGuard: guard.value }) });
  const warnings = stripped.ignored.map((setting) => problem(source, setting.path, setting.reason));
  if (kind === 'discovery') return ok({ kind, name, file: source.file, hash, warnings, plugin: pluginKind, config: config.value, advertise: advertise.value, removalGuard: guard.value });
  return ok({ kind, name, file: source.file, hash, warnings, plugin: pluginKind, config: config.value });
}

function parseCluster(source: Source, name: string, body: Record<string, unknown>, registries: PluginRegistries): Parsed {
  const { discovery, meta_cluster, name: _name, removal_guard, ...sections } = body;
  const coreKeys = ['discovery', 'meta_cluster', 'name', 'removal_guard'];
  // A mistyped key (`discovry:`) is named with its fix, also when it leaves a required setting missing.
  const unknown = Object.keys(sections)
    .filter((key) => registries.balancers.get(key) === undefined)
    .map((key) => problem(source, [key], `unknown setting${didYouMean(key, [...coreKeys, ...registries.balancers.kinds()])} (expected ${coreKeys.join(', ')} or a balancer section: ${registries.balancers.kinds().join(', ')})`));
  const core = validate(source, clusterCoreSchema, { discovery, meta_cluster }, []);
  if (!core.ok) return fail([...unknown, ...core.error]);
  const guard = validate(source, removalGuardSchema, removal_guard ?? {}, ['removal_guard']);
  if (!guard.ok) return fail([...unknown, ...guard.error]);
  const balancer: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [...unknown];
  const warnings: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(sections)) {
    const plugin = registries.balancers.get(key);
    if (!plugin) continue;
    const raw = value ?? {};
    const stripped = plugin.ignoreClusterSettings && typeof raw === 'object' && !Array.isArray(raw) ? plugin.ignoreClusterSettings(raw as Record<string, unknown>) : { body: raw, ignored: [] };
    warnings.push(...stripped.ignored.map((setting) => problem(source, [key, ...setting.path], setting.reason)));
    const section = validate(source, plugin.clusterSchema, stripped.body, [key]);
    if (section.ok) balancer[key] = section.value;
    else problems.push(...section.error);
  }
  if (problems.length > 0) return fail(problems);
  const item = { discovery: core.value.discovery, metaCluster: core.value.meta_cluster, balancer, removalGuard: guard.value };
  return ok({ kind: 'cluster', name, file: source.file, hash: hashOf(item), warnings, ...item });
}

function parseService(source: Source, name: string, body: Record<string, unknown>, registries: PluginRegistries, text: string): Parsed {
  const parsed = validate(source, serviceSchema, body, []);
  if (!parsed.ok) return parsed;
  const service = parsed.value;
  // Metadata goes to the registry, where the original's readers expect what PyYAML made of it.
  const metadata = body.metadata === undefined ? ok<Metadata>({}) : readPythonMetadata(text);
  if (!metadata.ok) return fail(metadata.error.map((issue) => problem(source, issue.path, issue.message)));
  const intervalMs = Math.round(service.checks.interval * 1000);
  const { interval: _interval, ...checkSections } = service.checks;
  const checks: CheckSpec[] = [];
  const problems: ConfigProblem[] = [];
  for (const [kind, value] of Object.entries(checkSections)) {
    const path = ['checks', kind];
    const plugin = registries.checks.get(kind);
    if (!plugin) {
      problems.push(problem(source, path, `unknown check plugin ${JSON.stringify(kind)}${didYouMean(kind, [...registries.checks.kinds(), 'interval'])} (registered: ${registries.checks.kinds().join(', ')})`, 'LH_PLUGIN_UNKNOWN'));
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(problem(source, path, 'must be a mapping with at least rise and fall'));
      continue;
    }
    const { rise, fall, timeout, ...own } = value as Record<string, unknown>;
    const core = validate(source, checkCoreSchema, { rise, fall, timeout }, path);
    const config = validate(source, plugin.schema, own, path);
    if (!core.ok) problems.push(...core.error);
    if (!config.ok) problems.push(...config.error);
    if (!core.ok || !config.ok) continue;
    // A check may use at most 80% of the interval by default, so runs never overlap.
    const timeoutMs = core.value.timeout !== undefined ? Math.round(core.value.timeout * 1000) : Math.max(100, Math.min(10_000, Math.round(intervalMs * 0.8)));
    checks.push({ kind, rise: core.value.rise, fall: core.value.fall, timeoutMs, config: config.value });
  }
  if (checks.length === 0 && problems.length === 0) problems.push(problem(source, ['checks'], 'needs at least one check (e.g. http, tcp, redis)'));
  const tooBig = metadataProblem(metadata.value);
  if (tooBig) problems.push(problem(source, ['metadata'], tooBig));
  if (problems.length > 0) return fail(problems);
  const ports = [...new Set(service.ports ?? [service.port!])];
  const item = {
    discovery: service.discovery,
    host: service.host,
    ports,
    metadata: metadata.value,
    intervalMs,
    checks,
    advertise: service.advertise,
  };
  return ok({ kind: 'service', name, file: source.file, hash: hashOf(item), ...item });
}

/** `topLevelKeys`: settings the file allows at its top level besides the schema's (a plugin file's name, plugin, ...), for "did you mean". */
function validate<T>(source: Source, schema: z.ZodType<T>, value: unknown, prefix: Path, topLevelKeys: readonly string[] = []): Result<T, ConfigProblem[]> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return ok(result.data);
  return fail(
    result.error.issues.flatMap((issue) => {
      const inner = issue.path.filter((part): part is string | number => typeof part !== 'symbol');
      const path = [...prefix, ...inner];
      if (issue.code === 'unrecognized_keys') {
        // One problem per key, each on its own line and with its likely fix.
        const known = [...settingNamesAt(schema, inner), ...(inner.length === 0 ? topLevelKeys : [])];
        const named = issue.keys.slice(0, MAX_UNKNOWN_KEYS).map((key) => problem(source, [...path, key], `unknown setting${didYouMean(key, known)}`));
        const rest = issue.keys.length - named.length;
        return rest > 0 ? [...named, problem(source, path, `${rest.toLocaleString('en-US')} more unknown settings (not listed one by one)`)] : named;
      }
      if (issue.code === 'invalid_type' && issue.input === undefined) return problem(source, path, 'is required');
      const code = issue.code === 'custom' && isConfigProblemCode(issue.params?.code) ? issue.params.code : undefined;
      return problem(source, path, issue.message.replace(/^Invalid input: /, ''), code);
    }),
  );
}

/**
 * Unknown keys named one problem each, per map: a file pasted in by mistake
 * (a generated map of thousands of keys) would otherwise flood the daemon's
 * log with one line per key. The rest are counted in one more problem.
 */
const MAX_UNKNOWN_KEYS = 20;

function problem(source: Source, path: Path, message: string, code?: ConfigProblemCode): ConfigProblem {
  return { file: source.file, setting: path.length > 0 ? path.join('.') : undefined, line: lineOf(source, path), message, ...(code === undefined ? {} : { code }) };
}

/** Each map's pairs by key, built once: a line per problem looked up by scanning made a map of many bad keys quadratic. */
const keyIndexes = new WeakMap<YAMLMap, Map<string, Pair>>();

function keyIndex(node: YAMLMap): Map<string, Pair> {
  let index = keyIndexes.get(node);
  if (!index) {
    index = new Map();
    for (const item of node.items) if (isScalar(item.key) && !index.has(String(item.key.value))) index.set(String(item.key.value), item);
    keyIndexes.set(node, index);
  }
  return index;
}

/** Line of the setting's key (or of its deepest existing parent); none for the document root. */
function lineOf(source: Source, path: Path): number | undefined {
  let node: unknown = source.doc.contents;
  let line: number | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = keyIndex(node).get(String(segment));
      if (!pair) break;
      const key = pair.key as { range?: [number, number, number] };
      if (key.range) line = source.lines.linePos(key.range[0]).line;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as { range?: [number, number, number] } | undefined;
      if (!item) break;
      if (item.range) line = source.lines.linePos(item.range[0]).line;
      node = item;
    } else break;
  }
  return line;
}

/** Content hash independent of key order and formatting: a re-saved file with the same settings is not a change. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16);
}

function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}
