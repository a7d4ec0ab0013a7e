import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { saveMemberCache } from '../../src/writer/member-cache.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * `lighthouse config-dump` (#18.10): the merged, validated model with every
 * default filled in and the HAProxy config it renders, with the writer's last
 * known members as server lines (its member cache, written by the writer's
 * own code). The built CLI; the rendered text is checked by a real `haproxy -c`.
 */
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

interface Dump {
  configDir: string;
  valid: boolean;
  problems: { file: string; setting?: string; message: string }[];
  model: {
    discovery: { name: string; config: Record<string, unknown> }[];
    clusters: { name: string; haproxy: Record<string, unknown>; removal_guard: Record<string, unknown> }[];
    services: unknown[];
  };
  members: { file: string; clusters: Record<string, string[]> };
  balancers: { name: string; file: string; rendered: { file: string; text: string } | null }[];
}

function haproxyCheck(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => execFile('haproxy', ['-c', '-f', file], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr })));
}

const node = (host: string, port: number): ClusterNode => ({ host, ip: '127.0.0.1', port, metadata: {} }) as ClusterNode;

test('config-dump --json: defaults filled in, secrets redacted, the rendered HAProxy config with the last known members, and it passes haproxy -c', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir('lighthouse-config-dump-');
  t.after(() => dir.remove());
  await cp(join(EXAMPLES, 'web-cluster-with-redis/writer'), dir.path, { recursive: true });
  const discovery = join(dir.path, 'discovery/zookeeper.yaml');
  await writeFile(discovery, `${await readFile(discovery, 'utf8')}auth:\n  scheme: digest\n  user: lighthouse\n  password: s3cret-pass\n`);
  await saveMemberCache(join(dir.path, '.state/writer-members.json'), new Map([['webapp', [node('app-1.example', 8001), node('app-2.example', 8002)]]]));

  const result = await runCli('config-dump', dir.path, '--json');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const dump = JSON.parse(result.stdout) as Dump;
  assert.equal(dump.valid, true);
  const zk = dump.model.discovery.find((item) => item.name === 'zookeeper')!;
  assert.equal(zk.config.operation_timeout_ms, 5000, 'a default the file leaves out');
  assert.deepEqual(zk.config.auth, { scheme: 'digest', user: 'lighthouse', password: '<redacted>' });
  assert.doesNotMatch(result.stdout, /s3cret-pass/);
  const webapp = dump.model.clusters.find((item) => item.name === 'webapp')!;
  assert.equal(webapp.haproxy.port, 8080);
  assert.deepEqual(webapp.removal_guard, { enabled: true, min_members: 1, panic_threshold: 0.5, window: 60, probe_held: true });
  assert.deepEqual(dump.members.clusters.webapp, ['app-1.example:8001', 'app-2.example:8002']);

  const [balancer] = dump.balancers;
  assert.equal(balancer?.rendered?.file, '/run/lighthouse/haproxy.cfg');
  const text = balancer!.rendered!.text;
  assert.match(text, /bind 127\.0\.0\.1:8080\b/);
  assert.match(text, /server \S+ 127\.0\.0\.1:8001\b/);
  assert.match(text, /server \S+ 127\.0\.0\.1:8002\b/);
  // The dump is the config HAProxy would get: it passes HAProxy's own check.
  const rendered = join(dir.path, 'rendered.cfg');
  await writeFile(rendered, text.replaceAll('/run/lighthouse/', `${dir.path}/`));
  const check = await haproxyCheck(rendered);
  assert.equal(check.code, 0, check.output);
});

test('config-dump (text): model as YAML and the rendered config; a file with a problem is listed and left out (exit 1)', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir('lighthouse-config-dump-');
  t.after(() => dir.remove());
  await cp(join(EXAMPLES, 'web-cluster-with-redis/writer'), dir.path, { recursive: true });
  await writeFile(join(dir.path, 'clusters/broken.yaml'), 'discovery: zookeeper\nhaproxy:\n  prot: 9000\n');
  const result = await runCli('config-dump', dir.path);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /^# problem: .*clusters\/broken\.yaml: haproxy\.prot \(line 3\): unknown setting \(did you mean "port"\?\)$/m);
  const model = result.stdout.split('# --- model (validated, defaults filled in)\n')[1]!.split('\n# --- balancer')[0]!;
  const parsed = parse(model) as { clusters: { name: string }[] };
  assert.deepEqual(parsed.clusters.map((cluster) => cluster.name), ['cache', 'webapp']);
  assert.match(result.stdout, /^# --- balancer haproxy \(.*balancers\/haproxy\.yaml\)$/m);
  assert.match(result.stdout, /^frontend /m);
});

/** Appends YAML lines to a file copied from the examples. */
async function append(file: string, text: string): Promise<void> {
  await writeFile(file, `${await readFile(file, 'utf8')}${text}`);
}

test('config-dump: credentials under other names are redacted too (stats auth, directive lines, check headers, quoted problem lines), in the model and the rendered config', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir('lighthouse-config-dump-');
  t.after(() => dir.remove());
  await cp(join(EXAMPLES, 'web-cluster-with-redis/writer'), dir.path, { recursive: true });
  await cp(join(EXAMPLES, 'web-cluster-with-redis/machine-a/services'), join(dir.path, 'services'), { recursive: true });
  const balancer = join(dir.path, 'balancers/haproxy.yaml');
  await writeFile(balancer, (await readFile(balancer, 'utf8')).replace('  uri: /\n', '  uri: /\n  auth: admin:StatsPass1\n').replace('  - mode http\n', '  - mode http\n  - stats auth ops:DefaultsPass2\n'));
  await append(join(dir.path, 'clusters/webapp.yaml'), '    - http-request set-header Authorization "Bearer BackendTok3"\n');
  await append(join(dir.path, 'services/webapp.yaml'), '    headers:\n      Authorization: Bearer HeaderTok4\n');
  await append(join(dir.path, 'services/cache.yaml'), '    password: RedisPass5\n');
  const secrets = /StatsPass1|DefaultsPass2|BackendTok3|HeaderTok4|RedisPass5|LogPass6|GlobalPass7/;

  for (const format of [['--json'], []]) {
    const result = await runCli('config-dump', dir.path, ...format);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout, secrets, `config-dump ${format.join(' ')}`);
    assert.match(result.stdout, /stats auth admin:<redacted>/, 'the user is kept: it says which account');
  }
  const dump = JSON.parse((await runCli('config-dump', dir.path, '--json')).stdout) as Dump;
  // Redacted in the dump only: the rendered config still passes HAProxy's check with its lines intact.
  const rendered = join(dir.path, 'rendered.cfg');
  await writeFile(rendered, dump.balancers[0]!.rendered!.text.replaceAll('/run/lighthouse/', `${dir.path}/`));
  assert.equal((await haproxyCheck(rendered)).code, 0);

  // Files with problems: the quoted line of a YAML error and the line haproxy -c refuses.
  await writeFile(join(dir.path, 'services/broken.yaml'), 'discovery: zookeeper\nport: 7000\nchecks:\n  redis:\n    password: "LogPass6\n');
  await writeFile(balancer, (await readFile(balancer, 'utf8')).replace('  - maxconn 2000\n', '  - maxconn 2000\n  - stats auth root:GlobalPass7\n'));
  for (const format of [['--json'], []]) {
    const result = await runCli('config-dump', dir.path, ...format);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /services\/broken\.yaml/);
    assert.match(result.stdout, /rendered line \d+/, 'the refused line is still quoted');
    assert.doesNotMatch(result.stdout, secrets, `config-dump ${format.join(' ')} with problems`);
  }
});
