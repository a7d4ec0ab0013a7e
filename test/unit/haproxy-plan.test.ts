import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveFromRendered } from '../../src/balancer/haproxy/live-state.js';
import { computePlan } from '../../src/balancer/haproxy/plan.js';
import { renderConfig } from '../../src/balancer/haproxy/render.js';
import { crossCheck } from '../../src/balancer/haproxy/cross-check.js';
import { balancer, cluster, node } from './haproxy-fixtures.js';

const config = balancer();
const a = node('a.example.com', '10.0.0.1', 80);
const b = node('b.example.com', '10.0.0.2', 80);
const c = node('c.example.com', '10.0.0.3', 80);
const web = (members = [a, b], section: Record<string, unknown> = { port: 8000 }) => cluster('web', section, members);

test('nothing changed: empty plan', () => {
  const rendered = renderConfig(config, [web()]);
  const plan = computePlan(liveFromRendered(rendered), rendered);
  assert.deepEqual(plan, { reload: false, reasons: [], ops: [] });
});

test('unknown running state: reload', () => {
  const plan = computePlan(undefined, renderConfig(config, [web()]));
  assert.equal(plan.reload, true);
});

test('membership only: add, remove and re-address go through the runtime API, adds before removals', () => {
  const live = liveFromRendered(renderConfig(config, [web([a, b])]));
  const moved = { ...b, ip: '10.0.0.20' };
  const plan = computePlan(live, renderConfig(config, [web([moved, c])]));
  assert.equal(plan.reload, false);
  assert.deepEqual(
    plan.ops.map((op) => `${op.kind} ${op.backend}/${op.kind === 'remove' ? op.server : op.server.name}`),
    ['set-addr web/b.example.com:80', 'add web/c.example.com:80', 'remove web/a.example.com:80'],
  );
});

test('a server being removed that comes back is restored, not added twice', () => {
  const live = liveFromRendered(renderConfig(config, [web([a, b])]));
  const servers = live.backends.get('web')!.servers;
  servers.draining('a.example.com:80');
  const plan = computePlan(live, renderConfig(config, [web([a, b])]));
  assert.deepEqual(plan.ops.map((op) => op.kind), ['restore']);
  // ... and a server already being removed is not removed again.
  const gone = computePlan(live, renderConfig(config, [web([b])]));
  assert.deepEqual(gone.ops, []);
});

test('structural changes need a reload, with a reason naming the section', () => {
  const live = liveFromRendered(renderConfig(config, [web()]));
  const before = renderConfig(config, [web()]);
  const cases: [string, ReturnType<typeof renderConfig>, RegExp][] = [
    ['new cluster', renderConfig(config, [web(), cluster('api', { port: 8001 }, [a])]), /"frontend api" added/],
    ['removed cluster', renderConfig(config, []), /"backend web" removed/],
    ['port changed', renderConfig(config, [web([a, b], { port: 8009 })]), /"frontend web" changed/],
    ['backend lines changed', renderConfig(config, [web([a, b], { port: 8000, backend: ['balance leastconn'] })]), /"backend web" changed/],
    ['server options changed', renderConfig(config, [web([a, b], { port: 8000, server_options: 'weight 5' })]), /"backend web" changed/],
    ['defaults changed', renderConfig(balancer({ defaults: ['mode http'] }), [web()]), /"defaults" changed/],
    ['stats added', renderConfig(balancer({ stats: { port: 8404 } }), [web()]), /"listen stats" added/],
  ];
  for (const [what, desired, reason] of cases) {
    const plan = computePlan(live, desired, before.skeleton);
    assert.equal(plan.reload, true, what);
    assert.match(plan.reasons.join('; '), reason, what);
  }
});

test('adds to a backend that refuses dynamic servers need a reload; removals still go through the runtime API', () => {
  const http = balancer({ defaults: ['mode http'] });
  const sticky = (members: typeof a[]) => cluster('web', { port: 8000, backend: ['cookie SRV insert indirect nocache'] }, members);
  const live = liveFromRendered(renderConfig(http, [sticky([a, b])]));
  const added = computePlan(live, renderConfig(http, [sticky([a, b, c])]));
  assert.equal(added.reload, true);
  assert.match(added.reasons[0]!, /backend "web" gets c\.example\.com:80 through a reload: .*cookie persistence/);
  assert.deepEqual(added.ops, []);
  const removed = computePlan(live, renderConfig(http, [sticky([a])]));
  assert.equal(removed.reload, false);
  assert.deepEqual(removed.ops.map((op) => op.kind), ['remove']);
});

test('peers sections make membership changes of that cluster structural (peers cannot change at run time)', () => {
  const peered = (members: typeof a[]) => cluster('web', { port: 8000, backend: ['stick-table type ip size 1k peers web'] }, members);
  const withPeer = (host: string, ip: string) => node(host, ip, 80, host.split('.')[0]);
  const before = renderConfig(config, [peered([withPeer('a.example.com', '10.0.0.1')])]);
  const plan = computePlan(liveFromRendered(before), renderConfig(config, [peered([withPeer('a.example.com', '10.0.0.1'), withPeer('b.example.com', '10.0.0.2')])]), before.skeleton);
  assert.equal(plan.reload, true);
  assert.match(plan.reasons.join(), /"peers web" changed/);
});

test('cross-check: meta-cluster rules, acl without meta-cluster, duplicate ports and names', () => {
  const file = balancer({ meta_clusters: { api: { port: 9000 } }, proxies: { db: { port: 5433, upstreams: [{ host: 'localhost', port: 5432 }] } }, stats: { port: 8404 } });
  const { accepted, problems } = crossCheck(file, [
    cluster('widgets', { acl: 'path_beg /w' }, [], 'api'),
    cluster('member-with-port', { port: 9100, acl: 'path_beg /m' }, [], 'api'),
    cluster('unknown-meta', { acl: 'path_beg /u' }, [], 'nope'),
    cluster('stray-acl', { port: 9200, acl: 'path_beg /s' }, []),
    cluster('first', { port: 9300 }, []),
    cluster('second', { port: 9300 }, []),
    cluster('on-stats', { port: 8404 }, []),
    cluster('db', { port: 9400 }, []),
  ]);
  assert.deepEqual(accepted.map((item) => item.name), ['first', 'widgets']);
  const messages = problems.map((problem) => problem.message).join('\n');
  assert.match(messages, /cluster "member-with-port".*port is not allowed for a member of meta-cluster "api".*port 9000/);
  assert.match(messages, /cluster "unknown-meta".*meta_cluster "nope" is not defined/);
  assert.match(messages, /cluster "stray-acl".*acl only routes inside a meta-cluster/);
  assert.match(messages, /cluster "second".*port 9300 is already used by cluster "first"/);
  assert.match(messages, /cluster "on-stats".*port 8404 is already used by the stats listener/);
  assert.match(messages, /cluster "db".*name is already used by proxy "db"/);
});

test('cross-check: the cluster that already had a port keeps it', () => {
  const clusters = [cluster('aaa', { port: 9300 }, []), cluster('zzz', { port: 9300 }, [])];
  const previous = crossCheck(config, [clusters[1]!]).held;
  const { accepted, problems } = crossCheck(config, clusters, previous);
  assert.deepEqual(accepted.map((item) => item.name), ['zzz']);
  assert.match(problems[0]!.message, /cluster "aaa".*already used by cluster "zzz"/);
});

test('cross-check: same port on different bind addresses does not clash', () => {
  const file = balancer({ bind_address: '127.0.0.1', stats: { port: 8404, bind_address: '127.0.0.2' } });
  const { accepted } = crossCheck(file, [cluster('web', { port: 8404 }, [])]);
  assert.deepEqual(accepted.map((item) => item.name), ['web']);
});

test('a backend found in order is skipped until its render or its running servers change', () => {
  const rendered = renderConfig(config, [web([a, b])]);
  const live = liveFromRendered(rendered);
  assert.deepEqual(computePlan(live, rendered).ops, []);
  const servers = live.backends.get('web')!.servers;
  // The same render object again, but the worker lost a server meanwhile: the plan must see it.
  servers.forget('b.example.com:80');
  assert.deepEqual(
    computePlan(live, rendered).ops.map((op) => op.kind),
    ['add'],
  );
  servers.put({ name: 'b.example.com:80', ip: '10.0.0.2', port: 80, removing: true, weight: 1, backup: false });
  assert.deepEqual(
    computePlan(live, rendered).ops.map((op) => op.kind),
    ['restore'],
  );
  servers.serving({ name: 'b.example.com:80', ip: '10.0.0.2', port: 80, weight: 1, backup: false });
  assert.deepEqual(computePlan(live, rendered).ops, []);
  // New capabilities for the backend (an adopted worker learning them) are looked at again too.
  live.backends.get('web')!.learnRuntime({ ...live.backends.get('web')!.runtime!, staticReason: 'peers' });
  servers.forget('a.example.com:80');
  assert.equal(computePlan(live, rendered).reload, true);
});
