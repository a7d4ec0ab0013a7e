import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderConfig } from '../../src/balancer/haproxy/render.js';
import { balancer, cluster, node, RENDER_CASES } from './haproxy-fixtures.js';

/** Golden files: regenerate with `UPDATE_GOLDEN=1 node --import tsx --test test/unit/haproxy-render.test.ts` and review the diff. */
const goldenPath = (name: string): string => fileURLToPath(new URL(`./golden/haproxy-${name}.cfg`, import.meta.url));

for (const renderCase of RENDER_CASES) {
  test(`render matches golden file haproxy-${renderCase.name}.cfg`, async () => {
    const { text } = renderConfig(renderCase.config, renderCase.clusters);
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(goldenPath(renderCase.name), text);
    assert.equal(text, await readFile(goldenPath(renderCase.name), 'utf8'));
  });
}

test('render is deterministic: member and cluster order do not matter', () => {
  const a = [node('b.example.com', '10.0.0.2', 80), node('a.example.com', '10.0.0.1', 80)];
  const first = renderConfig(balancer(), [cluster('x', { port: 1001 }, a), cluster('y', { port: 1002 }, [])]);
  const second = renderConfig(balancer(), [cluster('y', { port: 1002 }, []), cluster('x', { port: 1001 }, [...a].reverse())]);
  assert.equal(first.text, second.text);
});

test('membership changes leave the skeleton alone; structural changes do not', () => {
  const config = balancer();
  const one = renderConfig(config, [cluster('web', { port: 8000 }, [node('a.example.com', '10.0.0.1', 80)])]);
  const two = renderConfig(config, [cluster('web', { port: 8000 }, [node('a.example.com', '10.0.0.1', 80), node('b.example.com', '10.0.0.2', 80)])]);
  const moved = renderConfig(config, [cluster('web', { port: 8001 }, [node('a.example.com', '10.0.0.1', 80)])]);
  const options = renderConfig(config, [cluster('web', { port: 8000, server_options: 'weight 5' }, [node('a.example.com', '10.0.0.1', 80)])]);
  assert.notEqual(one.text, two.text);
  assert.equal(one.skeleton, two.skeleton);
  assert.notEqual(one.skeleton, moved.skeleton);
  // Options live on server lines, but changing them for existing servers needs a reload.
  assert.notEqual(one.skeleton, options.skeleton);
});

test('hostile node data never reaches the config', () => {
  const evil = [
    node('ok.example.com', '10.0.0.1', 80),
    node('bad host\n    server x', '10.0.0.2', 80),
    node('bad.example.com', '10.0.0.3\nfrontend x', 80),
    node('port.example.com', '10.0.0.4', 70000),
  ];
  const rendered = renderConfig(balancer(), [cluster('web', { port: 8000 }, evil)]);
  assert.match(rendered.text, /server ok\.example\.com:80 10\.0\.0\.1:80/);
  assert.doesNotMatch(rendered.text, /bad|frontend x|70000/);
  assert.equal(rendered.skipped.length, 3);
  assert.deepEqual(rendered.backends.get('web')?.servers.map((server) => server.name), ['ok.example.com:80']);
});

test('user defaults win over the sane defaults, including "no" forms', () => {
  const rendered = renderConfig(balancer({ defaults: ['no option redispatch', 'retries 1', 'retry-on conn-failure', 'timeout connect 1s', 'timeout client 2s', 'timeout server 3s'] }), []);
  assert.doesNotMatch(rendered.text, /^\s+option redispatch$/m);
  assert.doesNotMatch(rendered.text, /retries 3|empty-response|timeout connect 5s/);
  assert.match(rendered.text, /no option redispatch/);
});

test('idle-close-on-response goes where http mode is: defaults, or an http frontend under tcp defaults', () => {
  const httpDefaults = renderConfig(balancer({ defaults: ['mode http'] }), [cluster('web', { port: 8000 }, [])]);
  assert.match(httpDefaults.text, /defaults\n(?:.*\n)*? {4}option idle-close-on-response\n/);
  const tcpDefaults = renderConfig(balancer(), [cluster('web', { port: 8000, frontend: ['mode http'], backend: ['mode http'] }, []), cluster('db', { port: 8001 }, [])]);
  assert.match(tcpDefaults.text, /frontend web\n {4}bind :8000\n {4}mode http\n {4}option idle-close-on-response\n/);
  assert.doesNotMatch(tcpDefaults.text, /frontend db\n(?: {4}.*\n)* {4}option idle-close-on-response/);
});

test('backend capabilities for add server', () => {
  const rendered = renderConfig(balancer({ defaults: ['mode http', 'default-server inter 3s'] }), [
    cluster('dynamic', { port: 1, backend: ['default-server fall 2'], server_options: 'check weight 10' }, []),
    cluster('cookies', { port: 2, backend: ['cookie SRV insert'] }, []),
    cluster('static', { port: 3, backend: ['balance source'] }, []),
    cluster('consistent', { port: 4, backend: ['balance source', 'hash-type consistent'] }, []),
    cluster('resolvers', { port: 5, server_options: 'check resolvers dns' }, []),
  ]);
  const dynamic = rendered.backends.get('dynamic')!;
  assert.deepEqual(dynamic.addOptions, ['inter', '3s', 'fall', '2', 'check', 'weight', '10']);
  assert.equal(dynamic.staticReason, undefined);
  assert.equal(dynamic.healthCheck, true);
  assert.match(rendered.backends.get('cookies')!.staticReason ?? '', /cookie persistence/);
  assert.match(rendered.backends.get('static')!.staticReason ?? '', /balance source/);
  assert.equal(rendered.backends.get('consistent')!.staticReason, undefined);
  assert.match(rendered.backends.get('resolvers')!.staticReason ?? '', /"resolvers"/);
});

test('owners map each line to what produced it', () => {
  const rendered = renderConfig(balancer(), [cluster('web', { port: 8000, backend: ['balance leastconn'] }, [node('a.example.com', '10.0.0.1', 80)])]);
  const lines = rendered.text.split('\n');
  const index = lines.findIndex((line) => line.includes('balance leastconn'));
  assert.equal(rendered.owners[index], 'cluster "web" backend');
  assert.equal(rendered.owners.length, lines.length - 1);
});
