import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve as resolvePath, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { withDeadline } from '../lib/deadline.js';
import { LighthouseError, errorMessage, type ErrorSubject } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { parseConfigFile } from '../config/parse.js';
import { formatProblem } from '../config/model.js';
import { createRegistries, type PluginRegistries } from '../plugins/registry.js';
import { registerBuiltins } from './builtins.js';
import { installPlugin, pluginLoadTimeoutMs } from './plugin-install.js';
import { PLUGIN_API_VERSION, type LighthousePlugin } from '../plugins/types.js';

/** API versions this host can load. A list, so a future host can keep accepting older plugins. */
export const SUPPORTED_PLUGIN_API_VERSIONS: readonly number[] = [PLUGIN_API_VERSION];

/** npm package names, optionally scoped: nothing else is looked up as a package. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** Where Lighthouse itself is installed: a global install finds plugins installed next to it. */
const HOST_DIR = dirname(fileURLToPath(import.meta.url));

/** One plugin to load, and where it was asked for (for error messages). */
export interface PluginRequest {
  /** package name, or a path to a package folder or module file */
  spec: string;
  /** relative paths are resolved against this folder */
  baseDir: string;
  subject: ErrorSubject;
}

export interface LoadedPlugin {
  spec: string;
  name: string;
  version: string | undefined;
  /** module file that was imported */
  path: string;
  /** `check:command`, `discovery:consul`, ... */
  registered: string[];
}

export interface PluginLoadOptions {
  configDir: string;
  /** `--plugin NAME` arguments, in order */
  extra?: readonly string[];
  /** folder `--plugin` paths are relative to, and the second place packages are looked up; default process.cwd() */
  cwd?: string;
  logger: Logger;
  /** how long one plugin may take to import, and then to set up; default pluginLoadTimeoutMs() */
  timeoutMs?: number;
}

/**
 * The registries a daemon runs with: the built-ins, then every plugin package
 * named in `plugins.yaml` (config dir root) and by `--plugin`. Loaded once at
 * start; fails with LH_PLUGIN_LOAD (or LH_CONFIG_INVALID for a bad
 * plugins.yaml) naming the package, so a daemon never runs without a plugin
 * its config needs.
 */
export async function loadPluginRegistries(options: PluginLoadOptions): Promise<{ registries: PluginRegistries; loaded: LoadedPlugin[] }> {
  const registries = createRegistries();
  registerBuiltins(registries);
  const cwd = options.cwd ?? process.cwd();
  const timeoutMs = options.timeoutMs ?? pluginLoadTimeoutMs();
  const requests = [
    ...(await readPluginsFile(options.configDir)),
    ...(options.extra ?? []).map((spec): PluginRequest => ({ spec, baseDir: cwd, subject: { setting: '--plugin' } })),
  ];
  const loaded: LoadedPlugin[] = [];
  const seen = new Set<string>();
  for (const request of requests) {
    const entry = resolvePlugin(request, [options.configDir, cwd, HOST_DIR]);
    // The same package named in plugins.yaml and by --plugin is loaded once.
    if (seen.has(entry.path)) continue;
    seen.add(entry.path);
    const plugin = await importPlugin(request, entry.path, timeoutMs);
    const registered = await installPlugin(registries, plugin, `plugin "${request.spec}"`, options.logger, timeoutMs);
    const result: LoadedPlugin = { spec: request.spec, name: plugin.name ?? entry.name ?? request.spec, version: entry.version, path: entry.path, registered };
    loaded.push(result);
    options.logger.info({ plugin: result.name, version: result.version, path: result.path, registered }, `loaded plugin ${result.name}${result.version ? `@${result.version}` : ''}: ${registered.join(', ') || 'registered nothing'}`);
  }
  return { registries, loaded };
}

/** The `plugins:` lists of `plugins.yaml` / `plugins.yml` at the config dir root (both, if both exist). */
export async function readPluginsFile(configDir: string): Promise<PluginRequest[]> {
  const requests: PluginRequest[] = [];
  for (const name of ['plugins.yaml', 'plugins.yml']) {
    const file = join(configDir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new LighthouseError('LH_CONFIG_INVALID', `cannot read: ${errorMessage(error)}`, { file });
    }
    // Parsed by the config layer, so problems read exactly like every other file's.
    const parsed = parseConfigFile('plugins', file, text, 'plugins', createRegistries());
    if (!parsed.ok) throw new LighthouseError(parsed.error[0]?.code ?? 'LH_CONFIG_INVALID', parsed.error.map(formatProblem).join('; '));
    if (parsed.value.kind !== 'plugins') continue;
    parsed.value.packages.forEach((spec, index) => requests.push({ spec, baseDir: configDir, subject: { file, setting: `plugins.${index}` } }));
  }
  return requests;
}

interface ResolvedEntry {
  path: string;
  name: string | undefined;
  version: string | undefined;
}

/**
 * Resolution, in this order:
 * - a path (`./x`, `../x`, `/x`) is a package folder or a module file,
 *   relative to the config dir for plugins.yaml and to the cwd for --plugin;
 * - a package name is looked up in the node_modules folders Node would use
 *   from the config dir (and its parents), then from the cwd, then from
 *   Lighthouse's own install (a plugin installed next to a global Lighthouse).
 * The package's entry is its `exports["."]` for the `import`/`node`/`default`
 * conditions, else `main`, else index.js: what `import()` from that folder
 * would load. (Node 20's import.meta.resolve cannot take a parent folder
 * without a flag, and createRequire().resolve would pick `require` entries.)
 */
export function resolvePlugin(request: PluginRequest, searchDirs: readonly string[]): ResolvedEntry {
  const { spec } = request;
  if (spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec)) {
    const target = resolvePath(request.baseDir, spec);
    const info = statOrUndefined(target);
    if (!info) throw loadError(request, `"${spec}" does not exist (resolved to ${target})`);
    if (info.isFile()) return { path: target, name: undefined, version: undefined };
    return packageEntry(request, target);
  }
  if (!PACKAGE_NAME.test(spec)) {
    throw loadError(request, `"${spec}" is not an npm package name (or a path starting with ./, ../ or /)`);
  }
  const looked: string[] = [];
  for (const dir of searchDirs) {
    const paths = createRequire(join(resolvePath(dir), 'lighthouse-plugin-lookup.js')).resolve.paths(spec) ?? [];
    for (const modules of paths) {
      if (looked.includes(modules)) continue;
      looked.push(modules);
      const folder = join(modules, spec);
      if (existsSync(join(folder, 'package.json'))) return packageEntry(request, folder);
    }
  }
  const shown = looked.slice(0, 4).join(', ');
  throw loadError(request, `plugin package "${spec}" is not installed (looked in ${shown}${looked.length > 4 ? `, ... ${looked.length - 4} more` : ''}); install it next to the config directory, e.g. \`npm install ${spec}\``);
}

function packageEntry(request: PluginRequest, folder: string): ResolvedEntry {
  const manifestPath = join(folder, 'package.json');
  let manifest: Record<string, unknown> = {};
  if (existsSync(manifestPath)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(manifestPath, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) manifest = parsed as Record<string, unknown>;
    } catch (error) {
      throw loadError(request, `${manifestPath} is not valid JSON: ${errorMessage(error)}`);
    }
  }
  const target = exportsEntry(manifest.exports) ?? (typeof manifest.main === 'string' ? manifest.main : 'index.js');
  const path = resolvePath(folder, target);
  if (!path.startsWith(resolvePath(folder) + sep)) throw loadError(request, `the entry "${target}" of ${manifestPath} points outside the package`);
  if (!statOrUndefined(path)?.isFile()) throw loadError(request, `the entry "${target}" of ${manifestPath} does not exist (${path})`);
  return {
    path,
    name: typeof manifest.name === 'string' ? manifest.name : undefined,
    version: typeof manifest.version === 'string' ? manifest.version : undefined,
  };
}

const CONDITIONS = ['node', 'import', 'default'];

/** The `.` export for an `import()` in Node: conditions are tried in the object's own key order. */
function exportsEntry(exports: unknown): string | undefined {
  if (typeof exports === 'object' && exports !== null && !Array.isArray(exports)) {
    const keys = Object.keys(exports);
    if (keys.some((key) => key.startsWith('.'))) return conditional((exports as Record<string, unknown>)['.']);
  }
  return conditional(exports);
}

function conditional(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = conditional(item);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, nested] of Object.entries(value)) {
      if (!CONDITIONS.includes(key)) continue;
      const found = conditional(nested);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

async function importPlugin(request: PluginRequest, path: string, timeoutMs: number): Promise<LighthousePlugin> {
  let module: Record<string, unknown>;
  let timedOut = false;
  const timeout = (): Error => {
    timedOut = true;
    return loadError(request, `"${request.spec}" (${path}) did not finish importing within ${timeoutMs} ms (a top-level await that never settles?)`);
  };
  try {
    // Kept alive until the deadline: a module stuck on a top-level await leaves nothing else in the event loop.
    module = await withDeadline(import(pathToFileURL(path).href) as Promise<Record<string, unknown>>, timeoutMs, timeout, { keepAlive: true });
  } catch (error) {
    if (timedOut) throw error;
    throw loadError(request, `"${request.spec}" (${path}) failed to load: ${errorMessage(error)}`, error);
  }
  const candidates = [module.default, module.lighthousePlugin, nested(module.default, 'lighthousePlugin'), nested(module.default, 'default')];
  const plugin = candidates.find((candidate) => typeof candidate === 'object' && candidate !== null && typeof (candidate as { setup?: unknown }).setup === 'function');
  if (plugin === undefined) {
    throw loadError(request, `"${request.spec}" (${path}) is not a Lighthouse plugin: expected a default export (or an export named lighthousePlugin) of the form { apiVersion: ${PLUGIN_API_VERSION}, setup(api) }`);
  }
  const { apiVersion, name } = plugin as { apiVersion?: unknown; name?: unknown };
  if (typeof apiVersion !== 'number' || !SUPPORTED_PLUGIN_API_VERSIONS.includes(apiVersion)) {
    throw loadError(
      request,
      `"${request.spec}" is incompatible: it was written for plugin API version ${JSON.stringify(apiVersion)}, this Lighthouse supports ${SUPPORTED_PLUGIN_API_VERSIONS.join(', ')}; install a version of the plugin made for this Lighthouse`,
    );
  }
  if (name !== undefined && typeof name !== 'string') throw loadError(request, `"${request.spec}": name must be a string`);
  return plugin as LighthousePlugin;
}

function nested(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function statOrUndefined(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function loadError(request: PluginRequest, message: string, cause?: unknown): LighthouseError {
  return new LighthouseError('LH_PLUGIN_LOAD', message, request.subject, cause === undefined ? undefined : { cause });
}
