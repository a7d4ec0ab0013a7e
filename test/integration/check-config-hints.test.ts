import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/temp-dir.js';
import { runCli, type CliResult } from '../support/cli.js';
import { writeConfig } from '../support/daemon-config.js';

/** #18.6: check-config's lines point at the fix (the built CLI, real `haproxy -c`). */

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

async function checkEdited(t: { after(fn: () => Promise<void>): void }, edit: (dir: string) => Promise<void>): Promise<{ dir: string; result: CliResult; lines: string[] }> {
  const dir = await tempDir('lighthouse-check-hints-');
  t.after(() => dir.remove());
  await cp(join(EXAMPLES, 'web-cluster-with-redis/writer'), dir.path, { recursive: true });
  await edit(dir.path);
  const result = await runCli('check-config', dir.path);
  return { dir: dir.path, result, lines: result.stdout.trim().split('\n') };
}

async function replaceIn(file: string, from: string | RegExp, to: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  assert.match(text, typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : from);
  await writeFile(file, text.replace(from, to));
}

test('check-config: a mistyped discovery setting gets "did you mean", and no false "not configured" for the clusters using the file', { timeout: 30_000 }, async (t) => {
  const { dir, result, lines } = await checkEdited(t, (d) => replaceIn(join(d, 'discovery/zookeeper.yaml'), 'session_timeout_ms', 'sesion_timeout_ms'));
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.deepEqual(lines, [`${join(dir, 'discovery/zookeeper.yaml')}: sesion_timeout_ms (line 5): unknown setting (did you mean "session_timeout_ms"?)`]);
  assert.match(result.stderr, /: 1 problem\n/);
});

test('check-config: "discovry:" in a cluster file names the unknown key with its fix, not only that discovery is missing', { timeout: 30_000 }, async (t) => {
  const { dir, result, lines } = await checkEdited(t, (d) => replaceIn(join(d, 'clusters/webapp.yaml'), /^discovery: zookeeper$/m, 'discovry: zookeeper'));
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const file = join(dir, 'clusters/webapp.yaml');
  assert.ok(lines.some((line) => line.startsWith(`${file}: discovry (line 2): unknown setting (did you mean "discovery"?)`)), result.stdout);
});

test('check-config: a YAML syntax error quotes the line and where in it, instead of ending in ":"', { timeout: 30_000 }, async (t) => {
  const { dir, result, lines } = await checkEdited(t, (d) => writeFile(join(d, 'clusters/webapp.yaml'), 'discovery: zookeeper\nhaproxy:\n  port: 8080\n  backend: [mode http\n  frontend: []\n'));
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const line = lines.find((candidate) => candidate.startsWith(`${join(dir, 'clusters/webapp.yaml')}: line `));
  assert.ok(line, result.stdout);
  assert.match(line, /invalid YAML: .*\(the line reads " {2}frontend: \[\]"; here, column \d+: "frontend: \[\]"\)$/);
  assert.doesNotMatch(line, /:$/);
});

test('check-config: a YAML error at the end of the file quotes the last line', { timeout: 30_000 }, async (t) => {
  const { dir, lines } = await checkEdited(t, (d) => writeFile(join(d, 'clusters/webapp.yaml'), 'discovery: zookeeper\nhaproxy: {port: 8080\n'));
  assert.ok(lines.includes(`${join(dir, 'clusters/webapp.yaml')}: line 3: invalid YAML: Flow map in block collection must be sufficiently indented and end with a } (at the end of the file; line 2 reads "haproxy: {port: 8080")`), lines.join('\n'));
});

test('check-config: what haproxy -c refuses is quoted from the rendered config, not cited from a deleted temp file', { timeout: 30_000 }, async (t) => {
  const { dir, result, lines } = await checkEdited(t, (d) => replaceIn(join(d, 'clusters/webapp.yaml'), '    - balance roundrobin', '    - balance roundrobin\n    - timeout server abc'));
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(lines.length, 1, result.stdout);
  assert.ok(lines[0]!.startsWith(`${join(dir, 'clusters/webapp.yaml')}: haproxy.backend: `), lines[0]);
  assert.match(lines[0]!, /HAProxy rejects the generated configuration \(from cluster "webapp" backend\): parsing rendered line \d+ "timeout server abc" : unexpected character 'a' in 'timeout server'$/);
  assert.doesNotMatch(result.stdout, /lighthouse-haproxy-check-|\.cfg:\d+/);
});

test('check-config: a config file that is a symbolic link to nothing says so, not that it "disappeared while being read"', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir('lighthouse-hints-');
  t.after(() => dir.remove());
  await writeConfig(dir.path, { 'discovery/zookeeper.yaml': 'hosts: [127.0.0.1:2181]\npath: /lighthouse/services\n' });
  await mkdir(join(dir.path, 'services'), { recursive: true });
  await symlink('/srv/shared/web.yaml', join(dir.path, 'services/web.yaml'));
  const result = await runCli('check-config', dir.path);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /services\/web\.yaml: is a symbolic link to \/srv\/shared\/web\.yaml, which does not exist/);
});
