import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveFromRendered } from '../../src/balancer/haproxy/live-state.js';
import { computePlan } from '../../src/balancer/haproxy/plan.js';
import { renderConfig } from '../../src/balancer/haproxy/render.js';
import { haproxyClusterSchema } from '../../src/balancer/haproxy/schema.js';
import { clusterTraffic } from '../../src/balancer/haproxy/traffic.js';
import type { ClusterNode, Metadata } from '../../src/discovery/node.js';
import { balancer, cluster } from './haproxy-fixtures.js';

const at = (host: string, ip: string, metadata: Metadata): ClusterNode => ({ host, ip, port: 80, metadata, peer: null });
const a1 = at('a1', '10.0.0.1', { zone: 'a' });
const a2 = at('a2', '10.0.0.2', { zone: 'a' });
const b1 = at('b1', '10.0.1.1', { zone: 'b' });
const b2 = at('b2', '10.0.1.2', { zone: 'b' });
const bare = at('x1', '10.0.2.1', {});
const zoned = balancer({ zone: 'a' });
const section = { port: 8000, zone_aware: { min_members: 2 } };
const roles = (members: ClusterNode[], config = haproxyClusterSchema.parse(section), zone: string | undefined = 'a') =>
  Object.fromEntries([...clusterTraffic(zone, config, members).members].map(([name, member]) => [name, member.backup ? 'backup' : 'active']));

test('zone-aware: same-zone members are active, other zones and members without a zone stand by', () => {
  assert.deepEqual(roles([a1, a2, b1, bare]), { 'a1:80': 'active', 'a2:80': 'active', 'b1:80': 'backup', 'x1:80': 'backup' });
});

test('zone-aware: below min_members every member is active (spillover), and it comes back', () => {
  assert.deepEqual(roles([a1, b1, b2]), { 'a1:80': 'active', 'b1:80': 'active', 'b2:80': 'active' });
  assert.equal(clusterTraffic('a', haproxyClusterSchema.parse(section), [a1, b1]).zone?.spilled, true);
  assert.equal(clusterTraffic('a', haproxyClusterSchema.parse(section), [a1, a2, b1]).zone?.spilled, false);
});

test('zone-aware: min_fraction spills when the zone holds too small a share of the members', () => {
  const config = haproxyClusterSchema.parse({ zone_aware: { min_members: 1, min_fraction: 0.4 } });
  assert.equal(clusterTraffic('a', config, [a1, a2, b1, b2]).zone?.spilled, false);
  assert.equal(clusterTraffic('a', config, [a1, b1, b2]).zone?.spilled, true);
});

test('zone-aware without a writer zone, or not opted in: nobody is a backup', () => {
  assert.deepEqual(roles([a1, b1], undefined, undefined), { 'a1:80': 'active', 'b1:80': 'active' });
  assert.deepEqual(roles([a1, b1], haproxyClusterSchema.parse({})), { 'a1:80': 'active', 'b1:80': 'active' });
});

test('weights: metadata first, then the first matching rule, then the default; a bad value is reported', () => {
  const config = haproxyClusterSchema.parse({ weights: { rules: [{ match: { size: 'large' }, weight: 5 }], default: 2 } });
  const members = [at('w3', '10.0.0.3', { weight: 3 }), at('ws', '10.0.0.4', { weight: '7' }), at('big', '10.0.0.5', { size: 'large' }), at('bad', '10.0.0.6', { weight: 999 }), at('none', '10.0.0.7', {})];
  const traffic = clusterTraffic(undefined, config, members);
  assert.deepEqual(Object.fromEntries([...traffic.members].map(([name, member]) => [name, member.weight])), { 'w3:80': 3, 'ws:80': 7, 'big:80': 5, 'bad:80': 2, 'none:80': 2 });
  assert.equal(traffic.problems.length, 1);
  assert.match(traffic.problems[0]!, /bad:80.*999/);
});

test('server_options that clash with weights, zone_aware or slow_start are refused', () => {
  assert.equal(haproxyClusterSchema.safeParse({ weights: {}, server_options: 'check weight 10' }).success, false);
  assert.equal(haproxyClusterSchema.safeParse({ zone_aware: {}, server_options: 'backup' }).success, false);
  assert.equal(haproxyClusterSchema.safeParse({ slow_start: '10s', server_options: 'slowstart 5s' }).success, false);
  assert.equal(haproxyClusterSchema.safeParse({ slow_start: 'soon' }).success, false);
});

test('render: weights and backup roles on server lines, allbackups and slowstart in the structure', () => {
  const text = renderConfig(zoned, [cluster('web', { ...section, weights: {}, slow_start: '20s' }, [at('a1', '10.0.0.1', { zone: 'a', weight: 3 }), a2, b1])]).text;
  assert.match(text, /option allbackups/);
  assert.match(text, /server a1:80 10\.0\.0\.1:80 slowstart 20s weight 3\n/);
  assert.match(text, /server b1:80 10\.0\.1\.1:80 slowstart 20s weight 1 backup\n/);
});

test('plan: a weight change is a set-weight, never a reload', () => {
  const web = (weight: number) => cluster('web', { port: 8000, weights: {} }, [at('a1', '10.0.0.1', { weight }), a2]);
  const live = liveFromRendered(renderConfig(zoned, [web(1)]));
  const plan = computePlan(live, renderConfig(zoned, [web(3)]));
  assert.equal(plan.reload, false);
  assert.deepEqual(plan.ops.map((op) => `${op.kind} ${op.kind === 'remove' ? op.server : `${op.server.name} ${op.server.weight}`}`), ['set-weight a1:80 3']);
});

test('plan: spillover re-adds other zones\' members as active servers (remove, then add back), without a reload', () => {
  const live = liveFromRendered(renderConfig(zoned, [cluster('web', section, [a1, a2, b1, b2])]));
  const plan = computePlan(live, renderConfig(zoned, [cluster('web', section, [a1, b1, b2])]));
  assert.equal(plan.reload, false);
  assert.deepEqual(plan.ops.map((op) => `${op.kind} ${op.kind === 'remove' ? `${op.server}${op.readd ? ' readd' : ''}` : op.server.name}`), ['remove b1:80 readd', 'remove b2:80 readd', 'remove a2:80']);
  // While deleted to change role, the deletion is asked again (the runtime ops go on with the one under way, or
  // finish one a previous writer left); once deleted, it is added with the new role.
  const servers = live.backends.get('web')!.servers;
  servers.draining('b1:80');
  servers.draining('b2:80');
  servers.draining('a2:80');
  const desired = renderConfig(zoned, [cluster('web', section, [a1, b1, b2])]);
  assert.deepEqual(computePlan(live, desired).ops.map((op) => `${op.kind} ${op.kind === 'remove' ? `${op.server}${op.readd ? ' readd' : ''}` : ''}`), ['remove b1:80 readd', 'remove b2:80 readd']);
  servers.deleted('b1:80');
  const add = computePlan(live, desired).ops.filter((op) => op.kind !== 'remove');
  assert.deepEqual(add.map((op) => op.kind), ['add']);
  assert.equal(add[0]!.kind === 'add' && add[0].server.backup, false);
});

test('plan: with no active server left, only half the backups change role at once', () => {
  const one = { port: 8000, zone_aware: {} };
  const b3 = at('b3', '10.0.1.3', { zone: 'b' });
  const live = liveFromRendered(renderConfig(zoned, [cluster('web', one, [a1, b1, b2, b3])]));
  const desired = renderConfig(zoned, [cluster('web', one, [b1, b2, b3])]);
  assert.deepEqual(computePlan(live, desired).ops.map((op) => `${op.kind} ${op.kind === 'remove' ? op.server : ''}`), ['remove b1:80', 'remove a1:80']);
  const servers = live.backends.get('web')!.servers;
  servers.draining('b1:80');
  servers.draining('a1:80');
  servers.deleted('b1:80');
  servers.deleted('a1:80');
  // b1 comes back active: now the others can change.
  assert.deepEqual(computePlan(live, desired).ops.map((op) => `${op.kind} ${op.kind === 'remove' ? op.server : op.server.name}`), ['add b1:80', 'remove b2:80', 'remove b3:80']);
});

test('zone_aware on a writer without a zone: every member active, and the render says why', () => {
  const rendered = renderConfig(balancer(), [cluster('web', section, [a1, b1])]);
  assert.doesNotMatch(rendered.text, /backup|allbackups/);
  assert.ok(rendered.skipped.some((message) => /zone_aware has no effect: the balancer file sets no zone/.test(message)), rendered.skipped.join('\n'));
});

test('plan: a lone backup with no active server left keeps its role until an active one is there', () => {
  const one = { port: 8000, zone_aware: {} };
  const live = liveFromRendered(renderConfig(zoned, [cluster('web', one, [a1, b1])]));
  const plan = computePlan(live, renderConfig(zoned, [cluster('web', one, [b1])]));
  assert.deepEqual(plan.ops.map((op) => `${op.kind} ${op.kind === 'remove' ? op.server : ''}`), ['remove a1:80']);
  assert.equal(plan.reload, false);
});

test('zone transitions: logged once per change, spillovers counted', async () => {
  const { pino } = await import('pino');
  const { ZoneTransitions } = await import('../../src/balancer/haproxy/zone-transitions.js');
  const lines: string[] = [];
  const counters = { zoneSpillovers: 0 };
  const zones = new ZoneTransitions(pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }), counters as never);
  const settings = () => haproxyClusterSchema.parse(section).zone_aware;
  const at2 = renderConfig(zoned, [cluster('web', section, [a1, a2, b1])]);
  const at1 = renderConfig(zoned, [cluster('web', section, [a1, b1])]);
  for (const rendered of [at2, at2, at1, at1, at2]) zones.note(rendered, settings);
  assert.equal(counters.zoneSpillovers, 1);
  const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  assert.deepEqual(messages, [
    'cluster "web": 2 of 3 members in zone "a": other zones\' members stand by as backup servers',
    'cluster "web": 1 of 2 members in zone "a" (min_members 2, min_fraction 0): every member serves, other zones included',
    'cluster "web": 2 of 3 members in zone "a": other zones\' members stand by as backup servers',
  ]);
});

test('plan: a backend that refuses runtime-added servers changes roles by a reload, weights still at run time', () => {
  const refusing = { ...section, backend: ['balance static-rr'], weights: {} };
  const live = liveFromRendered(renderConfig(zoned, [cluster('web', refusing, [a1, a2, b1])]));
  const roleChange = computePlan(live, renderConfig(zoned, [cluster('web', refusing, [a1, b1])]));
  assert.equal(roleChange.reload, true);
  assert.match(roleChange.reasons.join(' '), /b1:80 \(as an active server\) through a reload/);
  const weight = computePlan(live, renderConfig(zoned, [cluster('web', refusing, [{ ...a1, metadata: { zone: 'a', weight: 5 } }, a2, b1])]));
  assert.equal(weight.reload, false);
  assert.deepEqual(weight.ops.map((op) => op.kind), ['set-weight']);
});
