import { test } from 'node:test';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { parseConfigFile } from '../../src/config/parse.js';
import type { ConfigProblem } from '../../src/config/model.js';
import { createRegistries } from '../../src/plugins/registry.js';
import { registerBuiltins } from '../../src/daemon/builtins.js';
import { checkConfigDir } from '../../src/cli/check-config-command.js';

/**
 * A config problem carries the code the daemons log it under (docs/errors.md).
 * Before, every problem was logged as LH_CONFIG_INVALID and LH_CONFIG_PARSE,
 * LH_PLUGIN_UNKNOWN and LH_CONFIG_DIRECTIVE were defined but never used.
 */
function problems(kind: Parameters<typeof parseConfigFile>[0], file: string, text: string): ConfigProblem[] {
  const registries = createRegistries();
  registerBuiltins(registries);
  const parsed = parseConfigFile(kind, file, text, 'web', registries);
  assert.equal(parsed.ok, false, 'expected a problem');
  return parsed.ok ? [] : parsed.error;
}

test('YAML that does not parse is LH_CONFIG_PARSE', () => {
  const [problem] = problems('cluster', '/c/clusters/web.yaml', 'discovery: zk\nhaproxy: [unclosed\n');
  assert.equal(problem?.code, 'LH_CONFIG_PARSE');
});

test('a discovery file naming no registered plugin is LH_PLUGIN_UNKNOWN', () => {
  const [problem] = problems('discovery', '/c/discovery/main.yaml', 'plugin: consul\nhosts: [a]\n');
  assert.equal(problem?.code, 'LH_PLUGIN_UNKNOWN');
  assert.equal(problem?.setting, 'plugin');
});

test('a service with an unknown check kind is LH_PLUGIN_UNKNOWN', () => {
  const [problem] = problems('service', '/c/services/web.yaml', 'discovery: zk\nport: 8080\nchecks:\n  interval: 2\n  command: {rise: 1, fall: 1}\n');
  assert.equal(problem?.code, 'LH_PLUGIN_UNKNOWN');
  assert.equal(problem?.setting, 'checks.command');
});

test('an HAProxy directive that is not legal in its section is LH_CONFIG_DIRECTIVE', () => {
  const [problem] = problems('cluster', '/c/clusters/web.yaml', 'discovery: zk\nhaproxy:\n  port: 8000\n  backend: ["ballance roundrobin"]\n');
  assert.equal(problem?.code, 'LH_CONFIG_DIRECTIVE');
  assert.equal(problem?.setting, 'haproxy.backend.0');
});

test('a wrongly typed setting carries no code of its own: it is logged as LH_CONFIG_INVALID', () => {
  const [problem] = problems('cluster', '/c/clusters/web.yaml', 'discovery: zk\nhaproxy:\n  port: eighty\n');
  assert.equal(problem?.code, undefined);
});

test('check-config: a cluster naming a discovery item that has no file is LH_CONFIG_REFERENCE', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lh-codes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'clusters'));
  await writeFile(join(dir, 'clusters', 'web.yaml'), 'discovery: nowhere\nhaproxy: {port: 8000}\n');
  const registries = createRegistries();
  registerBuiltins(registries);
  const { problems } = await checkConfigDir(dir, registries);
  const reference = problems.find((problem) => problem.setting === 'discovery');
  assert.equal(reference?.code, 'LH_CONFIG_REFERENCE', JSON.stringify(problems));
});
