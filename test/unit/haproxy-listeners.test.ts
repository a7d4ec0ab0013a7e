import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { bindTargets, busyTargets } from '../../src/balancer/haproxy/listeners.js';
import { freePort } from '../support/ports.js';
import { crossCheck } from '../../src/balancer/haproxy/cross-check.js';
import { describeAddress, lineListeners, overlaps } from '../../src/balancer/haproxy/listen-addresses.js';
import { haproxyConfigSchema } from '../../src/balancer/haproxy/schema.js';
import { balancer, cluster } from './haproxy-fixtures.js';

test('bindTargets: single-port TCP addresses of every bind line, with their line', () => {
  const text = ['frontend a', '    bind 127.0.0.1:8000', '    bind :8001,[::1]:8002', 'listen b', '    bind *:8003 ssl crt /x.pem', '    bind :9000-9005', '    bind unix@/run/x.sock', '    server x 1.2.3.4:80'].join('\n');
  assert.deepEqual(
    bindTargets(text).map(({ address, host, port, line }) => [address, host, port, line]),
    [
      ['127.0.0.1:8000', '127.0.0.1', 8000, 1],
      [':8001', '0.0.0.0', 8001, 2],
      ['[::1]:8002', '::1', 8002, 2],
      ['*:8003', '0.0.0.0', 8003, 4],
    ],
  );
});

test('busyTargets: only addresses another program listens on', async () => {
  const [taken, free] = [await freePort(), await freePort()];
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(taken, '127.0.0.1', () => resolve()));
  try {
    const busy = await busyTargets(bindTargets(`bind 127.0.0.1:${taken}\nbind 127.0.0.1:${free}\n`));
    assert.deepEqual(busy.map((target) => target.port), [taken]);
  } finally {
    server.close();
  }
});

// --- Issue #11 C: every listener of the generated config against every other (bind lines included)

test('cross-check: a bind line in a cluster frontend on another cluster\'s port is rejected, both owners named', () => {
  const { accepted, problems } = crossCheck(balancer({ bind_address: '127.0.0.1' }), [
    cluster('web', { port: 8080 }, []),
    cluster('other', { port: 8081, frontend: ['bind 127.0.0.1:8080'] }, []),
  ]);
  // Nothing held yet (a start, check-config): by name, so "other" claims first.
  assert.deepEqual(accepted.map((item) => item.name), ['other']);
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.message, 'cluster "web" left out of HAProxy: haproxy.port 8080 is already used by cluster "other" (haproxy.frontend.0 "bind 127.0.0.1:8080"): both listen on 127.0.0.1:8080');
});

test('cross-check: the cluster already listening keeps its address against a newcomer\'s bind line that sorts first', () => {
  const web = cluster('web', { port: 8080 }, []);
  const previous = crossCheck(balancer(), [web]).held;
  const { accepted, problems } = crossCheck(balancer(), [web, cluster('aaa', { port: 9000, frontend: ['bind :8080'] }, [])], previous);
  assert.deepEqual(accepted.map((item) => item.name), ['web']);
  assert.match(problems[0]!.message, /cluster "aaa".*"bind :8080" listens on \*:8080, already used by cluster "web"/);
});

test('cross-check: bind lines against meta-cluster frontends, proxies and the stats listener, and a cluster against itself', () => {
  const file = balancer({
    bind_address: '127.0.0.1',
    meta_clusters: { api: { port: 9000, frontend: ['bind 127.0.0.1:9001'] } },
    proxies: { db: { port: 5433, upstreams: [{ host: 'localhost', port: 5432 }], options: ['bind :5500-5510'] } },
    stats: { port: 8404 },
  });
  const { accepted, problems } = crossCheck(file, [
    cluster('on-meta-bind', { port: 9001 }, []),
    cluster('on-range', { port: 9100, frontend: ['bind 127.0.0.1:5505'] }, []),
    cluster('on-stats', { port: 9200, frontend: ['bind ipv4@127.0.0.1:8404 ssl crt /x.pem'] }, []),
    cluster('self', { port: 9300, frontend: ['bind :9300'] }, []),
    cluster('fine', { port: 9400, frontend: ['bind 127.0.0.2:9000', 'bind unix@/run/x.sock', 'bind 127.0.0.1:9401'] }, []),
  ]);
  assert.deepEqual(accepted.map((item) => item.name), ['fine']);
  const messages = problems.map((problem) => problem.message).join('\n');
  assert.match(messages, /cluster "on-meta-bind".*haproxy\.port 9001 is already used by meta-cluster "api" \(meta_clusters\.api\.frontend\.0 "bind 127\.0\.0\.1:9001"\)/);
  assert.match(messages, /cluster "on-range".*127\.0\.0\.1:5505, already used by proxy "db" \(proxies\.db\.options\.0 "bind :5500-5510"\)/);
  assert.match(messages, /cluster "on-stats".*already used by the stats listener \(stats\.port 8404\)/);
  assert.match(messages, /cluster "self".*"bind :9300" listens on \*:9300, already used by its own haproxy\.port 9300/);
});

test('listen addresses: every "any address" form overlaps a specific address on the same port, and only then', () => {
  const at = (line: string) => lineListeners(line, 'x', ['l']);
  const specific = at('bind 127.0.0.1:8000')[0]!;
  for (const any of ['bind *:8000', 'bind 0.0.0.0:8000', 'bind :8000', 'bind [::]:8000', 'bind :::8000', 'bind ipv6@:::8000', 'bind :7990-8010']) {
    const [listener] = at(any);
    assert.ok(listener, `${any} is parsed`);
    assert.ok(overlaps(listener, specific) && overlaps(specific, listener), `${any} overlaps 127.0.0.1:8000`);
  }
  for (const apart of ['bind 127.0.0.2:8000', 'bind 127.0.0.1:8001', 'bind [::1]:8000', 'bind :8001-8010']) {
    assert.ok(!overlaps(at(apart)[0]!, specific), `${apart} does not overlap 127.0.0.1:8000`);
  }
  assert.deepEqual(at('bind unix@/run/a.sock,fd@3,/run/b.sock,udp@:8000,:${PORT}'), []);
  assert.deepEqual(at('stats socket ipv4@127.0.0.1:9999 level admin').map(describeAddress), ['127.0.0.1:9999']);
  assert.deepEqual(at('bind 127.0.0.1:8000,[::1]:8001').map(describeAddress), ['127.0.0.1:8000', '[::1]:8001']);
});

test('balancer schema: listeners of the balancer file must not overlap (bind lines included)', () => {
  const result = haproxyConfigSchema.safeParse({
    config_file: '/run/h.cfg',
    socket_file: '/run/h.sock',
    pid_file: '/run/h.pid',
    global: ['stats socket 127.0.0.1:7000 level admin'],
    meta_clusters: { api: { port: 9000 } },
    proxies: { db: { port: 5433, upstreams: [{ host: 'localhost', port: 5432 }], options: ['bind 127.0.0.1:9000'] } },
    stats: { port: 7000 },
  });
  assert.equal(result.success, false);
  const issues = result.error!.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  assert.ok(issues.includes('proxies.db.options.0: proxies.db.options.0 "bind 127.0.0.1:9000" listens on 127.0.0.1:9000, already used by meta-cluster "api" (meta_clusters.api.port 9000)'), issues.join('\n'));
  assert.ok(issues.some((issue) => issue.startsWith('stats.port: stats.port 7000 is already used by the global section')), issues.join('\n'));
});
