import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/temp-dir.js';
import { BUILT_CLI, runCli, type CliResult } from '../support/cli.js';

/** `lighthouse check-config` as an operator runs it: the built CLI, real `haproxy -c`. */

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

function checkConfig(dir: string): Promise<CliResult> {
  return runCli('check-config', dir);
}

/** A copy of an example writer dir with `edit` applied, so each case breaks exactly one thing. */
async function brokenCopy(t: { after(fn: () => Promise<void>): void }, example: string, edit: (dir: string) => Promise<void>): Promise<string> {
  const dir = await tempDir('lighthouse-check-config-');
  t.after(() => dir.remove());
  await cp(join(EXAMPLES, example), dir.path, { recursive: true });
  await edit(dir.path);
  return dir.path;
}

async function replaceIn(file: string, from: string, to: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  assert.ok(text.includes(from), `${file} contains ${from}`);
  await writeFile(file, text.replace(from, to));
}

test('check-config: prerequisites', () => {
  assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
});

test('check-config: the example dirs are valid (exit 0)', { timeout: 30_000 }, async () => {
  for (const dir of ['web-cluster-with-redis/writer', 'api-meta-cluster-with-proxies/writer', 'web-cluster-with-redis/machine-a', 'api-meta-cluster-with-proxies/machine-b']) {
    const result = await checkConfig(join(EXAMPLES, dir));
    assert.equal(result.code, 0, `${dir}: ${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /: valid \(/);
  }
  const writer = await checkConfig(join(EXAMPLES, 'api-meta-cluster-with-proxies/writer'));
  assert.match(writer.stdout, /passes haproxy -c/);
});

const cases: { name: string; example: string; edit: (dir: string) => Promise<void>; expect: RegExp[] }[] = [
  {
    name: 'a setting of the wrong type',
    example: 'web-cluster-with-redis/writer',
    edit: (dir) => replaceIn(join(dir, 'clusters/webapp.yaml'), 'port: 8080', 'port: eighty'),
    expect: [/clusters\/webapp\.yaml: haproxy\.port \(line \d+\): /],
  },
  {
    name: 'YAML that does not parse',
    example: 'web-cluster-with-redis/writer',
    edit: (dir) => writeFile(join(dir, 'clusters/broken.yaml'), 'discovery: [zookeeper\n'),
    expect: [/clusters\/broken\.yaml: line \d+: invalid YAML/],
  },
  {
    name: 'a cluster whose discovery does not exist',
    example: 'web-cluster-with-redis/writer',
    edit: (dir) => replaceIn(join(dir, 'clusters/cache.yaml'), 'discovery: zookeeper', 'discovery: zk-east'),
    expect: [/clusters\/cache\.yaml: discovery: "zk-east" is not configured/],
  },
  {
    name: 'a meta_cluster the balancer file does not define',
    example: 'api-meta-cluster-with-proxies/writer',
    edit: (dir) => replaceIn(join(dir, 'clusters/widgets.yaml'), 'meta_cluster: api', 'meta_cluster: apii'),
    expect: [/clusters\/widgets\.yaml: meta_cluster: .*meta_cluster "apii" is not defined/],
  },
  {
    name: 'a directive that is illegal in its section',
    example: 'api-meta-cluster-with-proxies/writer',
    edit: (dir) => replaceIn(join(dir, 'balancers/haproxy.yaml'), '  - maxconn 2000', '  - balance roundrobin'),
    expect: [/balancers\/haproxy\.yaml: global\.0 \(line \d+\): "balance" is not a global directive/],
  },
  {
    name: 'a config only haproxy -c rejects',
    example: 'api-meta-cluster-with-proxies/writer',
    edit: (dir) => replaceIn(join(dir, 'balancers/haproxy.yaml'), '  - maxconn 2000', '  - nbthread 99999'),
    expect: [/balancers\/haproxy\.yaml: global: HAProxy rejects the generated configuration.*nbthread/],
  },
  {
    name: 'a directory with no config files (e.g. the parent of the real one)',
    example: 'web-cluster-with-redis/writer',
    edit: (dir) => rm(join(dir, 'balancers'), { recursive: true }).then(() => rm(join(dir, 'clusters'), { recursive: true })).then(() => rm(join(dir, 'discovery'), { recursive: true })),
    expect: [/: no config files found .*is this the right directory\?/],
  },
  {
    name: 'a bind line in a cluster frontend on another cluster\'s port (#11 C)',
    example: 'web-cluster-with-redis/writer',
    edit: (dir) => replaceIn(join(dir, 'clusters/webapp.yaml'), '    - mode http\n', '    - mode http\n    - bind 127.0.0.1:6400\n'),
    expect: [/clusters\/(cache|webapp)\.yaml: haproxy\.(port|frontend)\b.*already used by cluster "(cache|webapp)"/],
  },
  {
    name: 'two cluster files claiming one name (both files named)',
    example: 'web-cluster-with-redis/writer',
    edit: (dir) => writeFile(join(dir, 'clusters/a.yaml'), 'name: webapp\ndiscovery: zookeeper\nhaproxy:\n  port: 8181\n'),
    expect: [/clusters\/webapp\.yaml: name: cluster "webapp" is already defined by .*clusters\/a\.yaml$/],
  },
  {
    name: 'a cluster named ".." (#11: passed, then broke the writer)',
    example: 'web-cluster-with-redis/writer',
    edit: (dir) => writeFile(join(dir, 'clusters/dots.yaml'), 'name: ".."\ndiscovery: zookeeper\n'),
    expect: [/clusters\/dots\.yaml: name \(line 1\): "\.\." is not a valid name/],
  },
  {
    name: 'two clusters on one port, and a service without checks',
    example: 'web-cluster-with-redis/writer',
    edit: async (dir) => {
      await replaceIn(join(dir, 'clusters/cache.yaml'), 'port: 6400', 'port: 8080');
      await mkdir(join(dir, 'services'), { recursive: true });
      await writeFile(join(dir, 'services/x.yaml'), 'discovery: zookeeper\nport: 9999\n');
    },
    expect: [/clusters\/(cache|webapp)\.yaml: haproxy\.port: .*8080 is already used/, /services\/x\.yaml: checks/],
  },
  {
    name: 'metadata with an anchor used inside itself (a stack overflow with a trace before)',
    example: 'web-cluster-with-redis/machine-a',
    edit: (dir) => writeFile(join(dir, 'services/loop.yaml'), 'discovery: zookeeper\nport: 9998\nchecks:\n  interval: 1\n  tcp: { rise: 1, fall: 1 }\nmetadata:\n  tags: &tags [web, *tags]\n'),
    expect: [/services\/loop\.yaml: metadata\.tags\.1 \(line 7\): refers to itself/],
  },
];

for (const testCase of cases) {
  test(`check-config: ${testCase.name} (exit 1, names file and setting)`, { timeout: 30_000 }, async (t) => {
    const dir = await brokenCopy(t, testCase.example, testCase.edit);
    const result = await checkConfig(dir);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const lines = result.stdout.trim().split('\n');
    for (const pattern of testCase.expect) assert.ok(lines.some((line) => pattern.test(line)), `expected a line matching ${pattern}, got:\n${result.stdout}`);
    for (const line of lines) assert.ok(line.startsWith(dir), `every problem line starts with the file: ${line}`);
    assert.match(result.stderr, /\d+ problems?/);
  });
}

test('check-config: a file name with a line break stays on one line (text) and in one valid document (--json)', { timeout: 30_000 }, async (t) => {
  const name = 'bad\nforged.yaml: all good\u001b[2K';
  const dir = await brokenCopy(t, 'web-cluster-with-redis/writer', (path) => writeFile(join(path, 'clusters', `${name}.yaml`), 'discovery: [zookeeper\n'));
  const text = await checkConfig(dir);
  assert.equal(text.code, 1, text.stdout + text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one problem, one line:\n${text.stdout}`);
  assert.ok(lines[0]!.startsWith(`${join(dir, 'clusters')}/bad\\nforged.yaml: all good\\u001b[2K.yaml: line 2: invalid YAML`), lines[0]);
  const json = await runCli('check-config', dir, '--json');
  assert.equal(json.code, 1, json.stdout + json.stderr);
  const report = JSON.parse(json.stdout) as { valid: boolean; problems: { file: string; line?: number; message: string; code: string }[] };
  assert.equal(report.valid, false);
  assert.deepEqual(report.problems.map((problem) => problem.file), [join(dir, 'clusters', `${name}.yaml`)]);
  // The code the daemons log it under (docs/errors.md).
  assert.deepEqual(report.problems.map((problem) => problem.code), ['LH_CONFIG_PARSE']);
  const valid = await runCli('check-config', join(EXAMPLES, 'web-cluster-with-redis/writer'), '--json');
  assert.equal(valid.code, 0, valid.stdout + valid.stderr);
  assert.deepEqual(JSON.parse(valid.stdout), { configDir: join(EXAMPLES, 'web-cluster-with-redis/writer'), valid: true, problems: [], warnings: [], counts: { balancers: 1, discovery: 1, clusters: 2, services: 0 } });
});
