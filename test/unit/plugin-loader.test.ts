import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { loadPluginRegistries } from '../../src/daemon/plugin-loader.js';
import { builtinPlugin, registerBuiltins } from '../../src/daemon/builtins.js';
import { installPlugin, pluginLoadTimeoutMs } from '../../src/daemon/plugin-install.js';
import { createRegistries } from '../../src/plugins/registry.js';
import { PLUGIN_API_VERSION, type LighthousePlugin, type PluginApi } from '../../src/plugins/types.js';
import { LighthouseError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';

/** A plugin module registering one check of `kind` (plain ESM, as a package would ship it). */
const checkPluginSource = (kind: string, extra = '') => `
export default {
  apiVersion: ${PLUGIN_API_VERSION},
  setup(api) {
    api.registerCheck({ kind: ${JSON.stringify(kind)}, schema: api.z.strictObject({ n: api.z.number() }), create: () => ({ run: async () => ({ passed: true }) }) });
    ${extra}
  },
};
`;

async function writePackage(root: string, name: string, files: Record<string, string>, manifest: Record<string, unknown> = {}): Promise<string> {
  const dir = join(root, 'node_modules', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '1.2.3', type: 'module', ...manifest }));
  for (const [file, text] of Object.entries(files)) {
    await mkdir(join(dir, file, '..'), { recursive: true });
    await writeFile(join(dir, file), text);
  }
  return dir;
}

const isLoadError = (pattern: RegExp) => (error: unknown) => error instanceof LighthouseError && error.code === 'LH_PLUGIN_LOAD' && pattern.test(error.message);

describe('plugin loader', () => {
  let root: TempDir;
  let configDir: string;
  let elsewhere: string;

  before(async () => {
    root = await tempDir('lighthouse-plugins-');
    // project/node_modules holds the packages; the config dir is project/config.
    configDir = join(root.path, 'project', 'config');
    elsewhere = join(root.path, 'elsewhere');
    await mkdir(configDir, { recursive: true });
    await mkdir(elsewhere, { recursive: true });
    const project = join(root.path, 'project');
    await writePackage(project, 'lh-check-exports', { 'lib/plugin.js': checkPluginSource('exported'), 'lib/plugin.cjs': 'module.exports = {}' }, { exports: { '.': { require: './lib/plugin.cjs', import: './lib/plugin.js' } } });
    await writePackage(project, 'lh-check-main', { 'main.js': checkPluginSource('mainfield') }, { main: 'main.js' });
    await writePackage(project, '@acme/lh-named', { 'index.js': `export const lighthousePlugin = { apiVersion: ${PLUGIN_API_VERSION}, name: 'acme named', setup(api) { api.registerCheck({ kind: 'named', schema: api.z.object({}), create: () => ({ run: async () => ({ passed: true }) }) }); } };` });
    await writePackage(project, 'lh-cjs', { 'index.cjs': `module.exports = { apiVersion: ${PLUGIN_API_VERSION}, setup(api) { api.registerCheck({ kind: 'cjs', schema: api.z.object({}), create: () => ({ run: async () => ({ passed: true }) }) }); } };` }, { type: 'commonjs', main: 'index.cjs' });
    await writePackage(project, 'lh-not-a-plugin', { 'index.js': 'export default { hello: "world" };' });
    await writePackage(project, 'lh-future', { 'index.js': 'export default { apiVersion: 99, setup() {} };' });
    await writePackage(project, 'lh-broken', { 'index.js': 'export default {{ syntax error' });
    await writePackage(project, 'lh-missing-entry', {}, { main: 'nope.js' });
    await writePackage(project, 'lh-half', { 'index.js': checkPluginSource('half', 'throw new Error("no licence key");') });
    await writePackage(project, 'lh-dup-http', { 'index.js': checkPluginSource('http') });
    await writePackage(project, 'lh-reserved', { 'index.js': checkPluginSource('interval') });
    await writePackage(project, 'lh-bad-kind', { 'index.js': checkPluginSource('Not A Kind') });
    await writePackage(project, 'lh-no-schema', { 'index.js': `export default { apiVersion: ${PLUGIN_API_VERSION}, setup(api) { api.registerCheck({ kind: 'noschema', create() {} }); } };` });
    // Only reachable from `elsewhere` (the cwd in these tests), not from the config dir.
    await writePackage(elsewhere, 'lh-from-cwd', { 'index.js': checkPluginSource('fromcwd') });
    // A plugin as a local file, named by path.
    await writeFile(join(configDir, 'local-plugin.mjs'), checkPluginSource('localfile'));
  });

  after(async () => {
    await root?.remove();
  });

  const load = (plugins: string[], extra: string[] = []) =>
    (async () => {
      await writeFile(join(configDir, 'plugins.yaml'), `plugins: ${JSON.stringify(plugins)}\n`);
      return loadPluginRegistries({ configDir, extra, cwd: elsewhere, logger: silentLogger() });
    })();

  test('built-ins register through the same setup(api) as any plugin', () => {
    const registries = createRegistries();
    registerBuiltins(registries);
    assert.deepEqual(registries.discovery.kinds(), ['etcd', 'zookeeper']);
    assert.deepEqual(registries.balancers.kinds(), ['haproxy']);
    assert.deepEqual(registries.checks.kinds(), ['grpc', 'http', 'redis', 'tcp']);
    assert.equal(builtinPlugin.apiVersion, PLUGIN_API_VERSION);
    // The built-in plugin object goes through the loader's path too.
    const fresh = createRegistries();
    return installPlugin(fresh, builtinPlugin, 'built-ins', silentLogger()).then((registered) => {
      assert.deepEqual(registered, ['discovery:zookeeper', 'discovery:etcd', 'balancer:haproxy', 'check:http', 'check:tcp', 'check:redis', 'check:grpc']);
    });
  });

  test('packages from plugins.yaml are resolved from the config dir: exports (import condition), main, scoped with a named export, CommonJS', async () => {
    const { registries, loaded } = await load(['lh-check-exports', 'lh-check-main', '@acme/lh-named', 'lh-cjs']);
    assert.deepEqual(registries.checks.kinds(), ['cjs', 'exported', 'grpc', 'http', 'mainfield', 'named', 'redis', 'tcp']);
    assert.deepEqual(loaded.map((plugin) => [plugin.name, plugin.version, plugin.registered]), [
      ['lh-check-exports', '1.2.3', ['check:exported']],
      ['lh-check-main', '1.2.3', ['check:mainfield']],
      ['acme named', '1.2.3', ['check:named']],
      ['lh-cjs', '1.2.3', ['check:cjs']],
    ]);
    assert.match(loaded[0]!.path, /lib\/plugin\.js$/, 'the import condition, not the require one');
  });

  test('--plugin adds packages (looked up from the cwd too) and paths; a package named twice loads once', async () => {
    const { registries, loaded } = await load(['lh-check-main', './local-plugin.mjs'], ['lh-from-cwd', 'lh-check-main']);
    assert.ok(registries.checks.get('fromcwd'));
    assert.ok(registries.checks.get('localfile'));
    assert.equal(loaded.length, 3);
  });

  test('a registered check validates its settings with the schema built from api.z', async () => {
    const { registries } = await load(['lh-check-main']);
    const plugin = registries.checks.get('mainfield')!;
    assert.equal(plugin.schema.safeParse({ n: 1 }).success, true);
    assert.equal(plugin.schema.safeParse({ n: 'x' }).success, false);
  });

  test('a missing package: LH_PLUGIN_LOAD naming it, where it was asked for, and where it was looked for', async () => {
    await assert.rejects(load(['lh-nowhere']), (error: unknown) => {
      assert.ok(error instanceof LighthouseError);
      assert.equal(error.code, 'LH_PLUGIN_LOAD');
      assert.match(error.message, /plugins\.yaml: plugins\.0: plugin package "lh-nowhere" is not installed \(looked in .*node_modules/);
      assert.match(error.message, /npm install lh-nowhere/);
      return true;
    });
    await assert.rejects(load([], ['lh-nowhere']), isLoadError(/^--plugin: plugin package "lh-nowhere" is not installed/));
    await assert.rejects(load(['./missing.mjs']), isLoadError(/"\.\/missing\.mjs" does not exist/));
    await assert.rejects(load(['http://example.com/x.js']), isLoadError(/not an npm package name/));
  });

  test('not a plugin, an incompatible API version, a module that fails to load, a missing entry', async () => {
    await assert.rejects(load(['lh-not-a-plugin']), isLoadError(/"lh-not-a-plugin" .* is not a Lighthouse plugin: expected a default export \(or an export named lighthousePlugin\)/));
    await assert.rejects(load(['lh-future']), isLoadError(/"lh-future" is incompatible: it was written for plugin API version 99, this Lighthouse supports 1/));
    await assert.rejects(load(['lh-broken']), isLoadError(/"lh-broken" .* failed to load/));
    await assert.rejects(load(['lh-missing-entry']), isLoadError(/the entry "nope\.js" of .* does not exist/));
  });

  test('bad registrations are refused naming the package; a setup that throws leaves nothing registered', async () => {
    await assert.rejects(load(['lh-dup-http']), isLoadError(/plugin "lh-dup-http": registerCheck: a check plugin named "http" is already registered/));
    await assert.rejects(load(['lh-reserved']), isLoadError(/kind "interval" is reserved/));
    await assert.rejects(load(['lh-bad-kind']), isLoadError(/kind "Not A Kind" must be lower-case/));
    await assert.rejects(load(['lh-no-schema']), isLoadError(/"noschema" has no schema/));
    await assert.rejects(load(['lh-half']), isLoadError(/plugin "lh-half": setup failed: no licence key/));

    const registries = createRegistries();
    const half: LighthousePlugin = {
      apiVersion: PLUGIN_API_VERSION,
      setup(api) {
        api.registerCheck({ kind: 'first', schema: z.object({}), create: () => ({ run: async () => ({ passed: true }) }) });
        throw new Error('boom');
      },
    };
    await assert.rejects(installPlugin(registries, half, 'half', silentLogger()));
    assert.equal(registries.checks.get('first'), undefined, 'all or nothing');
  });

  test('LIGHTHOUSE_PLUGIN_TIMEOUT_MS beyond what a timer holds waits, not 1 ms', async () => {
    // Node fires a timer of more than 2^31-1 ms after 1 ms: every plugin failed to load with "did not finish within 3000000000 ms".
    const timeoutMs = pluginLoadTimeoutMs({ LIGHTHOUSE_PLUGIN_TIMEOUT_MS: '3000000000' });
    const registries = createRegistries();
    const slowSetup: LighthousePlugin = {
      apiVersion: PLUGIN_API_VERSION,
      async setup(api) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        api.registerCheck({ kind: 'slow', schema: z.object({}), create: () => ({ run: async () => ({ passed: true }) }) });
      },
    };
    await installPlugin(registries, slowSetup, 'slow', silentLogger(), timeoutMs);
    assert.ok(registries.checks.get('slow'));
  });

  test('the api only works during setup', async () => {
    let kept: PluginApi | undefined;
    const registries = createRegistries();
    await installPlugin(registries, { apiVersion: PLUGIN_API_VERSION, setup: (api) => void (kept = api) }, 'keeper', silentLogger());
    assert.throws(() => kept!.registerCheck({ kind: 'late', schema: z.object({}), create: () => ({ run: async () => ({ passed: true }) }) }), isLoadError(/called after setup finished/));
  });

  test('an invalid plugins.yaml is a config error naming the file and setting', async () => {
    await writeFile(join(configDir, 'plugins.yaml'), 'plugins: lh-check-main\n');
    await assert.rejects(loadPluginRegistries({ configDir, cwd: elsewhere, logger: silentLogger() }), (error: unknown) => {
      return error instanceof LighthouseError && error.code === 'LH_CONFIG_INVALID' && /plugins\.yaml: plugins \(line 1\)/.test(error.message);
    });
  });
});
