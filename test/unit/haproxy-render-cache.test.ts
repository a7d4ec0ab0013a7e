import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderConfig, type RenderedConfig } from '../../src/balancer/haproxy/render.js';
import type { BalancedCluster } from '../../src/balancer/types.js';
import type { HaproxyClusterConfig } from '../../src/balancer/haproxy/schema.js';
import { balancer, cluster, node } from './haproxy-fixtures.js';

/**
 * Backend sections are reused while a cluster's members array and settings
 * are the same objects. Whatever is reused, the result must equal a render
 * from scratch (fresh objects everywhere, so nothing can come from the cache).
 */

type Cluster = BalancedCluster<HaproxyClusterConfig>;

function fresh(clusters: readonly Cluster[]): Cluster[] {
  return clusters.map((c) => ({ ...c, config: structuredClone(c.config), members: c.members.map((member) => ({ ...member })) }));
}

function same(actual: RenderedConfig, expected: RenderedConfig): void {
  assert.equal(actual.text, expected.text);
  assert.equal(actual.skeleton, expected.skeleton);
  assert.deepEqual(actual.owners, expected.owners);
  assert.deepEqual(actual.skipped, expected.skipped);
  assert.deepEqual([...actual.backends.entries()], [...expected.backends.entries()]);
}

test('a change in one cluster re-renders it; the others are reused and the whole equals a fresh render', () => {
  const config = balancer({ defaults: ['mode http'] });
  const web = [node('a.example', '10.0.0.1', 80), node('b.example', '10.0.0.2', 80)];
  const api = [node('c.example', '10.0.0.3', 81), node('bad host', '10.0.0.4', 81)];
  let clusters = [cluster('web', { port: 8080 }, web), cluster('api', { port: 8081, server_options: 'check' }, api)];
  same(renderConfig(config, clusters), renderConfig(config, fresh(clusters)));
  same(renderConfig(config, clusters), renderConfig(config, fresh(clusters)));
  clusters = [clusters[0]!, { ...clusters[1]!, members: [...api, node('d.example', '10.0.0.5', 81)] }];
  const changed = renderConfig(config, clusters);
  assert.match(changed.text, /server d\.example:81/);
  same(changed, renderConfig(config, fresh(clusters)));
});

test('an array edited in place, changed settings or another balancer file are never served from the cache', () => {
  const config = balancer({ defaults: ['mode http'] });
  const members = [node('a.example', '10.0.0.1', 80)];
  const web = cluster('web', { port: 8080 }, members);
  renderConfig(config, [web]);
  members.push(node('b.example', '10.0.0.2', 80));
  assert.match(renderConfig(config, [web]).text, /server b\.example:80/);
  const weighted = { ...web, config: { ...web.config, server_options: ['weight', '5'] } };
  assert.match(renderConfig(config, [weighted]).text, /server a\.example:80 10\.0\.0\.1:80 cookie a\.example:80 weight 5/);
  const tcp = balancer({ defaults: ['mode tcp'] });
  assert.doesNotMatch(renderConfig(tcp, [web]).text, /cookie/);
});

/**
 * Server lines are kept per node object between renders (a change in a
 * 1,000-member cluster re-renders one line). Every render below reuses the
 * same node objects in new arrays, as the writer does, and must equal a
 * render from fresh objects.
 */
function zoned(host: string, ip: string, zone: string, weight?: number): ReturnType<typeof node> {
  return { ...node(host, ip, 80), metadata: weight === undefined ? { zone } : { zone, weight } };
}

test('a zone spillover and its return change the roles of members whose node objects are unchanged', () => {
  const config = balancer({ defaults: ['mode http'], zone: 'a' });
  const a1 = zoned('a1.example', '10.0.0.1', 'a');
  const a2 = zoned('a2.example', '10.0.0.2', 'a');
  const b1 = zoned('b1.example', '10.0.0.3', 'b');
  const section = { port: 8080, zone_aware: { min_members: 2 } };
  const before = [cluster('web', section, [a1, a2, b1])];
  same(renderConfig(config, before), renderConfig(config, fresh(before)));
  assert.match(renderConfig(config, before).text, /server b1\.example:80 10\.0\.0\.3:80 cookie b1\.example:80 backup/);
  // a2 leaves: one same-zone member is below min_members, every member is active, b1's line loses `backup`.
  const spilled = [cluster('web', section, [a1, b1])];
  const rendered = renderConfig(config, spilled);
  same(rendered, renderConfig(config, fresh(spilled)));
  assert.doesNotMatch(rendered.text, / backup\n/);
  assert.equal(rendered.backends.get('web')!.servers.find((server) => server.name === 'b1.example:80')!.backup, false);
  const back = [cluster('web', section, [a1, a2, b1])];
  same(renderConfig(config, back), renderConfig(config, fresh(back)));
  assert.equal(renderConfig(config, back).backends.get('web')!.servers.find((server) => server.name === 'b1.example:80')!.backup, true);
});

test('changed weights rules, server options or mode re-render the lines of unchanged node objects', () => {
  const config = balancer({ defaults: ['mode http'] });
  const members = [zoned('a.example', '10.0.0.1', 'a'), zoned('b.example', '10.0.0.2', 'b', 7)];
  const renders = [
    cluster('web', { port: 8080 }, [...members]),
    cluster('web', { port: 8080, weights: { default: 3 } }, [...members]),
    cluster('web', { port: 8080, weights: { default: 4 } }, [...members]),
    cluster('web', { port: 8080, server_options: 'check inter 2s' }, [...members]),
    cluster('web', { port: 8080, server_options: 'check inter 2s', slow_start: '10s' }, [...members]),
    cluster('web', { port: 8080 }, [...members]),
  ];
  for (const web of renders) same(renderConfig(config, [web]), renderConfig(config, fresh([web])));
  assert.match(renderConfig(config, [renders[2]!]).text, /server a\.example:80 10\.0\.0\.1:80 cookie a\.example:80 weight 4\n/);
  assert.match(renderConfig(config, [renders[2]!]).text, /server b\.example:80 10\.0\.0\.2:80 cookie b\.example:80 weight 7\n/);
  assert.match(renderConfig(config, [renders[4]!]).text, /server a\.example:80 10\.0\.0\.1:80 cookie a\.example:80 check inter 2s slowstart 10s\n/);
  const tcp = balancer({ defaults: ['mode tcp'] });
  same(renderConfig(tcp, [renders[5]!]), renderConfig(tcp, fresh([renders[5]!])));
  assert.doesNotMatch(renderConfig(tcp, [renders[5]!]).text, /cookie/);
});

test('the same node objects in two clusters, out of order or twice, render as from scratch', () => {
  const config = balancer({ defaults: ['mode http'] });
  const a = node('a.example', '10.0.0.1', 80);
  const b = node('b.example', '10.0.0.2', 80);
  const twin = node('a.example', '10.0.0.9', 80);
  const clusters = [cluster('web', { port: 8080 }, [b, a, twin]), cluster('api', { port: 8081, server_options: 'check' }, [a, b])];
  const rendered = renderConfig(config, clusters);
  same(rendered, renderConfig(config, fresh(clusters)));
  // The first of two entries with one name wins; lines are sorted by name.
  assert.match(rendered.text, /backend web\n(?:.*\n)*? {4}server a\.example:80 10\.0\.0\.1:80 cookie a\.example:80\n {4}server b\.example:80 10\.0\.0\.2:80 cookie b\.example:80\n/);
  assert.match(rendered.text, /server a\.example:80 10\.0\.0\.1:80 cookie a\.example:80 check\n/);
  same(renderConfig(config, clusters), renderConfig(config, fresh(clusters)));
});
