import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveServers, LiveState, liveFromRendered } from '../../src/balancer/haproxy/live-state.js';
import { renderConfig } from '../../src/balancer/haproxy/render.js';
import { balancer, cluster, node } from './haproxy-fixtures.js';

const a = { name: 'a.example.com:80', ip: '10.0.0.1', port: 80, weight: 1, backup: false };

test('every mutator of the live servers moves their version', () => {
  const servers = new LiveServers();
  const versions = [servers.version];
  servers.serving(a);
  versions.push(servers.version);
  servers.draining(a.name);
  versions.push(servers.version);
  assert.equal(servers.get(a.name)?.removing, true);
  servers.serving(a);
  versions.push(servers.version);
  assert.equal(servers.get(a.name)?.removing, false);
  servers.forget(a.name);
  versions.push(servers.version);
  assert.equal(servers.size, 0);
  assert.equal(new Set(versions).size, versions.length, `versions ${versions.join(', ')}`);
});

test('a finished deletion forgets the server only while it is still being removed', () => {
  const servers = new LiveServers();
  servers.serving(a);
  servers.draining(a.name);
  // Wanted again while `del server` was in flight: it stays.
  servers.serving(a);
  servers.deleted(a.name);
  assert.equal(servers.get(a.name)?.removing, false);
  servers.draining(a.name);
  servers.deleted(a.name);
  assert.equal(servers.get(a.name), undefined);
});

test('an adopted state learns backend capabilities only from a render of the same structure', () => {
  const config = balancer();
  const rendered = renderConfig(config, [cluster('web', { port: 8080 }, [node('a.example.com', '10.0.0.1', 80)])]);
  const known = liveFromRendered(rendered);
  const adopted = new LiveState(known.skeletonHash);
  adopted.backend('web').servers.put({ ...a, removing: false });
  assert.equal(adopted.backends.get('web')?.runtime, undefined);
  const other = new LiveState('another structure');
  other.backend('web');
  other.completeRuntime(rendered);
  assert.equal(other.backends.get('web')?.runtime, undefined);
  adopted.completeRuntime(rendered);
  assert.deepEqual(adopted.backends.get('web')?.runtime, known.backends.get('web')?.runtime);
});
