import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDirective, type Section } from '../../src/balancer/haproxy/directives.js';
import { parseConfigFile } from '../../src/config/parse.js';
import { formatProblem, formatWarning } from '../../src/config/model.js';
import { createRegistries } from '../../src/plugins/registry.js';
import { haproxyBalancer } from '../../src/balancer/haproxy/plugin.js';
import { haproxyClusterSchema, haproxyConfigSchema } from '../../src/balancer/haproxy/schema.js';

const legal: [Section, string][] = [
  ['global', 'maxconn 4096'],
  ['global', 'log stdout format raw local0'],
  ['global', 'tune.bufsize 32768'],
  ['global', 'stats timeout 30s'],
  ['defaults', 'mode http'],
  ['defaults', 'timeout connect 5s'],
  ['defaults', 'option httplog'],
  ['defaults', 'no option redispatch'],
  ['defaults', 'default-server inter 2s fall 3'],
  ['frontend', 'acl is_api path_beg /api'],
  ['frontend', 'http-request set-header X-Forwarded-Proto https if { ssl_fc }'],
  ['frontend', 'capture request header Host len 64'],
  ['frontend', 'timeout client 30s'],
  ['frontend', 'option forwardfor'],
  ['frontend', '# a comment'],
  ['backend', 'balance leastconn'],
  ['backend', 'http-check set-var(txn.x) str(y)'],
  ['backend', 'option httpchk GET /health'],
  ['backend', 'stick-table type ip size 1m peers web'],
  ['backend', 'persist rdp-cookie(msts)'],
  ['backend', 'default option log-health-checks'],
  ['listen', 'bind :80'],
  ['listen', 'balance roundrobin'],
  ['listen', 'timeout client 30s'],
  ['peers', 'peer a 10.0.0.1:1024'],
  ['peers', 'table t1 type ip size 1k'],
];

const illegal: [Section, string, RegExp][] = [
  ['global', 'mode http', /"mode" is not a global directive/],
  ['global', 'daemon', /"daemon" is not allowed in the global section: .*detached master-worker/],
  ['global', 'pidfile /x.pid', /pid_file/],
  ['defaults', 'bind :80', /"bind" is not allowed in a defaults section \(allowed in: frontend, listen\)/],
  ['defaults', 'http-request deny', /only allowed in named defaults sections/],
  ['defaults', 'use_backend x', /"use_backend" is not allowed in a defaults section/],
  ['frontend', 'balance roundrobin', /"balance" is not allowed in a frontend section \(allowed in: defaults, listen, backend\)/],
  ['frontend', 'server a 1.2.3.4:80', /"server" is not allowed in a frontend section/],
  ['frontend', 'timeout server 5s', /"timeout server" is not allowed in a frontend section/],
  ['frontend', 'option redispatch', /"option redispatch" is not allowed in a frontend section/],
  ['backend', 'bind :80', /"bind" is not allowed in a backend section/],
  ['backend', 'use_backend other', /"use_backend" is not allowed in a backend section/],
  ['backend', 'option tcplog', /"option tcplog" is not allowed in a backend section/],
  ['backend', 'maxconn 100', /"maxconn" is not allowed in a backend section/],
  ['backend', 'ballance roundrobin', /"ballance" is not a directive of an HAProxy 2\.6 backend section/],
  ['backend', 'option bogus', /"option bogus" is not a directive/],
  ['backend', 'no option forwardfor', /cannot be prefixed with "no"/],
  ['backend', 'nbthread 4', /it is a global directive/],
  ['listen', 'mode http\n    frontend evil', /single line/],
  ['frontend', 'mode http\0', /single line/],
  ['frontend', '   ', /must not be empty/],
  ['peers', 'stick on src', /not a directive of an HAProxy 2\.6 peers section/],
];

for (const [section, line] of legal) {
  test(`legal in ${section}: ${line}`, () => {
    assert.equal(checkDirective(section, line), undefined);
  });
}

for (const [section, line, message] of illegal) {
  test(`illegal in ${section}: ${JSON.stringify(line)}`, () => {
    const problem = checkDirective(section, line);
    assert.ok(problem, 'expected a problem');
    assert.match(problem, message);
    assert.match(problem, new RegExp(section === 'global' ? 'global' : section));
  });
}

test('schema errors carry the setting path (cluster section)', () => {
  const result = haproxyClusterSchema.safeParse({ port: 8000, backend: ['balance roundrobin', 'bind :80'] });
  assert.equal(result.success, false);
  const issue = result.error!.issues[0]!;
  assert.deepEqual(issue.path, ['backend', 1]);
  assert.match(issue.message, /"bind" is not allowed in a backend section/);
});

test('schema errors carry the setting path (balancer file)', () => {
  const result = haproxyConfigSchema.safeParse({
    config_file: '/x/haproxy.cfg',
    socket_file: '/x/haproxy.sock',
    pid_file: '/x/haproxy.pid',
    proxies: { db: { port: 5432, upstreams: [{ host: 'db', port: 5432 }], options: ['default_backend x', 'nbthread 2'] } },
  });
  assert.equal(result.success, false);
  const paths = result.error!.issues.map((issue) => issue.path.join('.'));
  assert.deepEqual(paths, ['proxies.db.options.1']);
  assert.match(result.error!.issues[0]!.message, /"nbthread" is not a directive of an HAProxy 2\.6 listen section \(it is a global directive\)/);
});

function parseWithPlugin(kind: 'cluster' | 'balancer', text: string): string[] {
  return parseWithWarnings(kind, text).problems;
}

function parseWithWarnings(kind: 'cluster' | 'balancer', text: string): { problems: string[]; warnings: string[] } {
  const registries = createRegistries();
  registries.balancers.register(haproxyBalancer);
  const result = parseConfigFile(kind, `/etc/lh/${kind}s/item.yaml`, text, kind === 'balancer' ? 'haproxy' : 'web', registries);
  return result.ok ? { problems: [], warnings: (result.value.warnings ?? []).map(formatWarning) } : { problems: result.error.map(formatProblem), warnings: [] };
}

test('through the config parser, a bad directive is reported as file: haproxy.backend.N (line): message', () => {
  const { problems } = parseWithWarnings('cluster', 'discovery: zookeeper\nhaproxy:\n  port: 8000\n  backend:\n    - balance roundrobin\n    - bnid :80\n    - stats socket /x\n');
  assert.deepEqual(problems, [
    '/etc/lh/clusters/item.yaml: haproxy.backend.1 (line 6): "bnid" is not a directive of an HAProxy 2.6 backend section',
    '/etc/lh/clusters/item.yaml: haproxy.backend.2 (line 7): "stats socket" is not a directive of an HAProxy 2.6 backend section (it is a global directive)',
  ]);
});

test('through the config parser, a proxy keyword in a proxy section that does not take it is dropped with a warning (as HAProxy and the original do)', () => {
  const { problems, warnings } = parseWithWarnings('cluster', 'discovery: zookeeper\nhaproxy:\n  port: 8000\n  backend:\n    - balance roundrobin\n    - bind :80\n    - maxconn 500\n');
  assert.deepEqual(problems, []);
  assert.deepEqual(warnings, [
    '/etc/lh/clusters/item.yaml: haproxy.backend.1 (line 6): warning: ignored (HAProxy ignores it there, and the original dropped it): "bind" is not allowed in a backend section (allowed in: frontend, listen)',
    '/etc/lh/clusters/item.yaml: haproxy.backend.2 (line 7): warning: ignored (HAProxy ignores it there, and the original dropped it): "maxconn" is not allowed in a backend section (allowed in: defaults, frontend, listen)',
  ]);
});

test('through the config parser, balancer file problems name the setting', () => {
  const problems = parseWithPlugin(
    'balancer',
    [
      'config_file: /run/lh/haproxy.cfg',
      'socket_file: /run/lh/haproxy.sock',
      'pid_file: /run/lh/haproxy.pid',
      'defaults:',
      '  - mode http',
      '  - acl x path_beg /a',
      'update_strategy: sometimes',
      'stats: {port: 8404, auth: "no-colon"}',
      'proxies:',
      '  db: {port: 8404, upstreams: [{host: "db", port: 5432}]}',
      'bogus: 1',
    ].join('\n'),
  );
  const text = problems.join('\n');
  assert.match(text, /defaults\.1 \(line 6\): "acl" is only allowed in named defaults sections/);
  assert.match(text, /update_strategy/);
  assert.match(text, /stats\.auth.*user:password/);
  assert.match(text, /bogus.*unknown setting/);
});

test('port collisions inside the balancer file are reported on the later setting', () => {
  const result = haproxyConfigSchema.safeParse({
    config_file: '/x/haproxy.cfg',
    socket_file: '/x/haproxy.sock',
    pid_file: '/x/haproxy.pid',
    meta_clusters: { api: { port: 9000 } },
    stats: { port: 9000 },
  });
  assert.equal(result.success, false);
  const issue = result.error!.issues[0]!;
  assert.deepEqual(issue.path, ['stats', 'port']);
  assert.match(issue.message, /port 9000 is already used by meta-cluster "api"/);
});

test('server_options: a string or a list, one line each, starting with a server keyword', () => {
  assert.deepEqual(haproxyClusterSchema.parse({ server_options: 'check  inter 2s' }).server_options, ['check', 'inter', '2s']);
  assert.deepEqual(haproxyClusterSchema.parse({ server_options: ['slowstart 30s', 'weight 5'] }).server_options, ['slowstart', '30s', 'weight', '5']);
  assert.deepEqual(haproxyClusterSchema.parse({}).server_options, []);
  const broken = haproxyClusterSchema.safeParse({ server_options: ['check', 'inter 2s\nfrontend evil'] });
  assert.equal(broken.success, false);
  assert.deepEqual(broken.error!.issues[0]!.path, ['server_options', 1]);
  const typo = haproxyClusterSchema.safeParse({ server_options: 'slowstrat 30s' });
  assert.equal(typo.success, false);
  assert.match(typo.error!.issues[0]!.message, /"slowstrat" is not an HAProxy 2\.6 server option/);
});

test('acl must be one line', () => {
  const result = haproxyClusterSchema.safeParse({ acl: 'path_beg /a\n    use_backend evil' });
  assert.equal(result.success, false);
  assert.deepEqual(result.error!.issues[0]!.path, ['acl']);
});
