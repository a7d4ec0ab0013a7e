import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestName, editDistance } from '../../src/lib/did-you-mean.js';
import { parseConfigFile } from '../../src/config/parse.js';
import { formatProblem } from '../../src/config/model.js';
import { testRegistries } from '../support/test-registries.js';

const registries = testRegistries();

function problems(kind: Parameters<typeof parseConfigFile>[0], text: string): string[] {
  const result = parseConfigFile(kind, `/etc/lh/${kind}/x.yaml`, text, kind === 'discovery' ? 'zookeeper' : 'x', registries);
  return result.ok ? [] : result.error.map(formatProblem);
}

test('edit distance counts an adjacent swap as one edit', () => {
  assert.equal(editDistance('sesion_timeout_ms', 'session_timeout_ms'), 1);
  assert.equal(editDistance('discovry', 'discovery'), 1);
  assert.equal(editDistance('hsot', 'host'), 1);
  assert.equal(editDistance('', 'abc'), 3);
});

test('no suggestion for a name that is nothing like any candidate', () => {
  assert.equal(closestName('frobnicate', ['discovery', 'port', 'host']), undefined);
  assert.equal(closestName('prot', ['discovery', 'port', 'ports', 'host']), 'port');
});

test('unknown settings: "did you mean" at the top level, inside sections, and for each of several keys', () => {
  // (the test registries' zookeeper plugin knows hosts and path; the real one's session_timeout_ms is in the integration test)
  assert.ok(problems('discovery', 'hosts: [a:1]\npaht: /x\n').includes('/etc/lh/discovery/x.yaml: paht (line 2): unknown setting (did you mean "path"?)'));
  const service = problems('service', 'discovery: zookeeper\nport: 80\nhots: a\nmetdata: {}\nchecks: {interval: 1, http: {uri: /, rise: 1, fall: 1}}\n');
  assert.ok(service.includes('/etc/lh/service/x.yaml: hots (line 3): unknown setting (did you mean "host"?)'), service.join('\n'));
  assert.ok(service.includes('/etc/lh/service/x.yaml: metdata (line 4): unknown setting (did you mean "metadata"?)'), service.join('\n'));
  const guard = problems('cluster', 'discovery: zookeeper\nremoval_guard:\n  min_member: 2\n');
  assert.ok(guard.includes('/etc/lh/cluster/x.yaml: removal_guard.min_member (line 3): unknown setting (did you mean "min_members"?)'), guard.join('\n'));
  const check = problems('service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 1\n  htp: {uri: /, rise: 1, fall: 1}\n');
  assert.ok(check.some((line) => line.includes('checks.htp (line 5): unknown check plugin "htp" (did you mean "http"?)')), check.join('\n'));
  assert.ok(problems('discovery', 'hosts: [a:1]\npath: /x\nadvertize: {}\n').some((line) => line.includes('advertize (line 3): unknown setting (did you mean "advertise"?)')));
});

test('a mistyped required key in a cluster file is named as unknown, besides the missing setting', () => {
  const lines = problems('cluster', 'discovry: zookeeper\nhaproxy:\n  port: 1\n');
  assert.ok(lines.some((line) => line.startsWith('/etc/lh/cluster/x.yaml: discovry (line 1): unknown setting (did you mean "discovery"?)')), lines.join('\n'));
  assert.ok(lines.includes('/etc/lh/cluster/x.yaml: discovery: is required'), lines.join('\n'));
});

test('a YAML syntax error quotes the offending line', () => {
  const [line] = problems('cluster', 'a: 1\n\tb: 2\n');
  assert.ok(line, 'one problem');
  assert.match(line, /line 2: invalid YAML: .*\(the line reads "\\tb: 2"/);
  assert.doesNotMatch(line, /:$/);
});

test('a YAML error in a very long line (a minified file) quotes a bounded part of it, around the error', () => {
  const long = `a: [${'1, '.repeat(50_000)}\n`;
  const [line] = problems('cluster', long);
  assert.ok(line, 'one problem');
  assert.ok(line.length < 1000, `the problem line is ${line.length} characters long`);
});

test('a huge unknown key gets no suggestion and costs no time', () => {
  // (an explicit key: YAML allows at most 1024 characters in an implicit one)
  const lines = problems('cluster', `discovery: zookeeper\n? ${'x'.repeat(200_000)}\n: 1\n`);
  assert.ok(lines.some((line) => /unknown setting \(expected/.test(line)), lines.join('\n').slice(0, 300));
});

test('a file of 40,000 unknown keys: parsed promptly, the first ones named with their lines and one problem for the rest', { timeout: 60_000 }, () => {
  const keys = Array.from({ length: 40_000 }, (_, index) => `sesion_${index}: 1`).join('\n');
  const found = problems('service', `discovery: zookeeper\nport: 80\nchecks: {interval: 1, http: {uri: /, rise: 1, fall: 1}}\n${keys}\n`);
  assert.ok(found.includes('/etc/lh/service/x.yaml: sesion_0 (line 4): unknown setting'), found.slice(0, 3).join('\n'));
  assert.ok(found.length <= 25, `${found.length} problems: one line each would flood the daemon's log`);
  assert.ok(found.some((line) => /39,980 more unknown settings/.test(line)), found.slice(-2).join('\n'));
});

test('a repeated key is an error at the repeated key, nested too, also among 40,000 keys', { timeout: 60_000 }, () => {
  assert.ok(problems('service', 'discovery: zookeeper\nport: 80\nport: 81\n').some((line) => line.includes('line 3: invalid YAML: Map keys must be unique (the line reads "port: 81"')));
  const keys = Array.from({ length: 40_000 }, (_, index) => `k${index}: 1`).join('\n  ');
  const nested = problems('service', `discovery: zookeeper\nport: 80\nmetadata:\n  ${keys}\n  k7: 2\n`);
  assert.deepEqual(nested.map((line) => line.replace(/ \(the line.*/, '')), ['/etc/lh/service/x.yaml: line 40004: invalid YAML: Map keys must be unique']);
});

test('a second YAML document in a file is explained for the operator, not with the library\'s advice to programmers', () => {
  const found = problems('service', 'discovery: zookeeper\nport: 80\n---\nport: 81\n');
  assert.ok(found.some((line) => line.includes('line 3: invalid YAML: Source contains multiple documents (a config file is one YAML document')), found.join('\n'));
  assert.ok(!found.some((line) => /parseAllDocuments/.test(line)), found.join('\n'));
});
