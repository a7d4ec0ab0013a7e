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
