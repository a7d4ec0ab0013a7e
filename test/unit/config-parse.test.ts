import { checkAddressMismatch, checkHost } from '../../src/reporter/check-address.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile } from '../../src/config/parse.js';
import { formatProblem, type ConfigItem, type ConfigProblem } from '../../src/config/model.js';
import { testRegistries } from '../support/test-registries.js';

const registries = testRegistries();

function parse(kind: Parameters<typeof parseConfigFile>[0], text: string, name = kind === 'discovery' ? 'zookeeper' : 'item'): { item?: ConfigItem; problems: string[]; raw: ConfigProblem[] } {
  const result = parseConfigFile(kind, `/etc/lh/${kind}/${name}.yaml`, text, name, registries);
  return result.ok ? { item: result.value, problems: [], raw: [] } : { problems: result.error.map(formatProblem), raw: result.error };
}

test('a valid cluster file becomes a cluster item with its balancer section', () => {
  const { item, problems } = parse('cluster', 'discovery: zookeeper\nhaproxy:\n  port: 8000\n', 'webapp');
  assert.deepEqual(problems, []);
  assert.equal(item?.kind, 'cluster');
  if (item?.kind !== 'cluster') return;
  assert.equal(item.name, 'webapp');
  assert.equal(item.discovery, 'zookeeper');
  assert.deepEqual(item.balancer, { haproxy: { port: 8000 } });
});

test('the top-level name: overrides the file name', () => {
  const { item } = parse('cluster', 'name: api\ndiscovery: zookeeper\n', 'file-name');
  assert.equal(item?.name, 'api');
});

const invalid: [string, Parameters<typeof parseConfigFile>[0], string, RegExp][] = [
  ['missing discovery', 'cluster', 'haproxy:\n  port: 8000\n', /cluster\/item\.yaml: discovery: is required/],
  ['wrong type names setting and line', 'cluster', 'discovery: zookeeper\nhaproxy:\n  port: "eighty"\n', /haproxy\.port \(line 3\): expected number/],
  ['unknown top-level setting', 'cluster', 'discovery: zookeeper\nhaprox:\n  port: 1\n', /haprox \(line 2\): unknown setting/],
  ['bad YAML names the line', 'cluster', 'discovery: [zookeeper\n', /item\.yaml: line \d+: invalid YAML/],
  ['top level is a list', 'cluster', '- a\n- b\n', /top level must be a mapping/],
  ['unknown discovery plugin', 'discovery', 'plugin: consul\nhosts: [a:1]\n', /zookeeper\.yaml: plugin \(line 1\): unknown discovery plugin "consul"/],
  ['discovery setting wrong', 'discovery', 'hosts: []\npath: /x\n', /hosts.*(too small|>=1)/i],
  ['service without port', 'service', 'discovery: zookeeper\nchecks:\n  interval: 1\n  http: {uri: /h, rise: 1, fall: 1}\n', /port: needs "port" or "ports"/],
  ['service with unknown check', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 1\n  gopher: {rise: 1, fall: 1}\n', /checks\.gopher.*unknown check plugin "gopher"/],
  ['check without rise', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 1\n  http: {uri: /h, fall: 1}\n', /checks\.http\.rise.*is required/],
  ['check plugin setting wrong', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 1\n  http: {uri: h, rise: 1, fall: 1}\n', /checks\.http\.uri/],
  ['service with no checks', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 1\n', /checks.*needs at least one check/],
  ['port out of range', 'service', 'discovery: zookeeper\nport: 70000\nchecks: {interval: 1, http: {uri: /, rise: 1, fall: 1}}\n', /port.*65535/],
  ['bad logging level', 'logging', 'level: loud\n', /level/],
  ['invalid name', 'cluster', 'name: "a b"\ndiscovery: zookeeper\n', /name.*not a valid name/],
  ['a cluster named ".." (a path step, not a znode name)', 'cluster', 'name: ".."\ndiscovery: zookeeper\n', /name \(line 1\): "\.\." is not a valid name/],
  ['a cluster named "."', 'cluster', 'name: "."\ndiscovery: zookeeper\n', /name \(line 1\): "\." is not a valid name/],
  ['a service named ".."', 'service', 'name: ".."\ndiscovery: zookeeper\nport: 80\nchecks: {interval: 1, http: {uri: /, rise: 1, fall: 1}}\n', /name \(line 1\): "\.\." is not a valid name/],
  ['an interval beyond what timers hold (#19.2)', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 3000000\n  http: {uri: /, rise: 1, fall: 1}\n', /checks\.interval \(line 4\): must be at most 3600 seconds/],
  ['a check timeout beyond what timers hold (#19.2)', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 1\n  http: {uri: /, rise: 1, fall: 1, timeout: 3000000}\n', /checks\.http\.timeout \(line 5\): must be at most 600 seconds/],
  ['an interval that rounds to 0 ms', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 0.0001\n  http: {uri: /, rise: 1, fall: 1}\n', /checks\.interval \(line 4\): must be at least 0\.01 seconds/],
  ['a check timeout that rounds to 0 ms', 'service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 1\n  http: {uri: /, rise: 1, fall: 1, timeout: 0.0001}\n', /checks\.http\.timeout \(line 5\): must be at least 0\.01 seconds/],
  ['a meta_cluster named ".."', 'cluster', 'discovery: zookeeper\nmeta_cluster: ".."\n', /meta_cluster \(line 2\):/],
];

for (const [label, kind, text, expected] of invalid) {
  test(`rejected with file and setting named: ${label}`, () => {
    const { item, problems } = parse(kind, text);
    assert.equal(item, undefined);
    assert.ok(problems.some((line) => expected.test(line)), `no problem matched ${expected}: ${JSON.stringify(problems)}`);
    assert.ok(problems.every((line) => line.startsWith(`/etc/lh/${kind}/`)), 'every problem starts with the file');
  });
}

test('a service gets defaults: no host (checks go to the registered address), metadata, check timeout below the interval', () => {
  const { item } = parse('service', 'discovery: zookeeper\nports: [8001, 8002, 8001]\nchecks:\n  interval: 2\n  http: {uri: /health, rise: 2, fall: 1}\n');
  assert.equal(item?.kind, 'service');
  if (item?.kind !== 'service') return;
  assert.equal(item.host, undefined);
  assert.deepEqual(item.ports, [8001, 8002]);
  assert.deepEqual(item.metadata, {});
  assert.equal(item.intervalMs, 2000);
  assert.equal(item.checks[0]?.timeoutMs, 1600);
  assert.deepEqual(item.checks[0]?.config, { uri: '/health', method: 'GET' });
});

test('check durations at their bounds are accepted', () => {
  const { item, problems } = parse('service', 'discovery: zookeeper\nport: 80\nchecks:\n  interval: 3600\n  http: {uri: /, rise: 1, fall: 1, timeout: 600}\n');
  assert.deepEqual(problems, []);
  assert.equal(item?.kind === 'service' ? item.intervalMs : undefined, 3_600_000);
  assert.equal(item?.kind === 'service' ? item.checks[0]?.timeoutMs : undefined, 600_000);
});

test('the content hash ignores formatting and key order', () => {
  const a = parse('cluster', 'discovery: zookeeper\nhaproxy: {port: 1, acl: x}\n');
  const b = parse('cluster', '# comment\nhaproxy:\n  acl: "x"\n  port: 1\ndiscovery: "zookeeper"\n');
  const c = parse('cluster', 'discovery: zookeeper\nhaproxy: {port: 2, acl: x}\n');
  assert.equal(a.item?.hash, b.item?.hash);
  assert.notEqual(a.item?.hash, c.item?.hash);
});

test('checks connect to host: when set, else to the registered address; a loopback host: with another address registered is named', () => {
  const address = { ip: '10.1.2.3' };
  assert.equal(checkHost({ host: undefined }, address), '10.1.2.3');
  assert.equal(checkHost({ host: '127.0.0.1' }, address), '127.0.0.1');
  assert.match(checkAddressMismatch({ host: '127.0.0.1', file: '/etc/lh/services/web.yaml' }, address) ?? '', /services\/web\.yaml: host: checks connect to 127\.0\.0\.1 but the reporter registers 10\.1\.2\.3/);
  assert.equal(checkAddressMismatch({ host: undefined, file: 'x' }, address), undefined);
  assert.equal(checkAddressMismatch({ host: 'localhost', file: 'x' }, { ip: '127.0.0.1' }), undefined, 'one machine: loopback registered too');
  assert.equal(checkAddressMismatch({ host: 'db.internal', file: 'x' }, address), undefined, 'a name: cannot tell');
});
