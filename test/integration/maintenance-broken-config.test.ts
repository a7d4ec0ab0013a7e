import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { writeConfig } from '../support/daemon-config.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * `lighthouse maintenance on|off` reads the config only to name the services
 * in its message: a config the CLI cannot load (a plugin package removed
 * during an upgrade, a broken plugins.yaml) must not keep an operator from
 * taking the machine out of rotation, or back in. The built CLI.
 */
for (const [what, pluginsYaml] of [
  ['a plugin package that is not installed', 'plugins:\n  - lighthouse-plugin-removed-in-upgrade\n'],
  ['a plugins.yaml that is not valid YAML', 'plugins: [unclosed\n'],
] as const) {
  test(`maintenance on/off is recorded despite ${what} (the message says the services are unknown)`, { timeout: 60_000 }, async (t) => {
    const dir = await tempDir('lighthouse-maintenance-broken-');
    t.after(() => dir.remove());
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': 'hosts: [127.0.0.1:2181]\npath: /lighthouse/services\n',
      'services/web.yaml': 'discovery: zookeeper\nport: 8001\nchecks:\n  tcp: {}\n',
      'plugins.yaml': pluginsYaml,
    });
    const drains = join(dir.path, '.state/drains.json');

    const on = await runCli('maintenance', dir.path, 'on', '--reason', 'kernel upgrade');
    assert.equal(on.code, 0, on.stdout + on.stderr);
    assert.match(on.stdout, /^maintenance on since /);
    assert.match(on.stdout + on.stderr, /LH_PLUGIN_LOAD|LH_CONFIG_PARSE/, 'it says why it cannot name the services');
    const recorded = JSON.parse(await readFile(drains, 'utf8')) as { maintenance?: { reason: string } };
    assert.equal(recorded.maintenance?.reason, 'kernel upgrade');

    const off = await runCli('maintenance', dir.path, 'off');
    assert.equal(off.code, 0, off.stdout + off.stderr);
    assert.match(off.stdout, /^maintenance off/);
    assert.equal((JSON.parse(await readFile(drains, 'utf8')) as { maintenance?: unknown }).maintenance, undefined);
  });
}
