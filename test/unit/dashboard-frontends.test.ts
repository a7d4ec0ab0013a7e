import { test } from 'node:test';
import assert from 'node:assert/strict';
import { haproxyFrontends, haproxyStatusPage } from '../../src/balancer/haproxy/frontends.js';
import { haproxyClusterSchema, haproxyConfigSchema } from '../../src/balancer/haproxy/schema.js';
import { registration } from '../../src/cli/reporter-dashboard.js';

const balancer = (extra: Record<string, unknown> = {}) => haproxyConfigSchema.parse({ config_file: '/run/h.cfg', socket_file: '/run/h.sock', pid_file: '/run/h.pid', ...extra });
const cluster = (name: string, config: Record<string, unknown>, metaCluster?: string) => ({ name, metaCluster, config: haproxyClusterSchema.parse(config), members: [] });

test('frontends: a cluster\'s own port, its meta-cluster\'s port when it has an acl there, none for a backend only', () => {
  const config = balancer({ bind_address: '10.0.0.1', meta_clusters: { edge: { port: 80 } } });
  const frontends = haproxyFrontends(config, [cluster('web', { port: 8080 }), cluster('api', { acl: 'path_beg /api' }, 'edge'), cluster('quiet', {}, 'edge'), cluster('lone', {}), cluster('lost', { acl: 'path_beg /x' }, 'nowhere')]);
  assert.deepEqual(Object.fromEntries(frontends), {
    web: { address: '10.0.0.1', port: 8080, via: null },
    api: { address: '10.0.0.1', port: 80, via: 'meta-cluster "edge" (acl path_beg /api)' },
  });
  assert.deepEqual(Object.fromEntries(haproxyFrontends(balancer(), [cluster('web', { port: 8080 })])), { web: { address: null, port: 8080, via: null } }, 'no bind_address: every address');
});

test('status page: the stats listener without its credentials; none without one', () => {
  assert.equal(haproxyStatusPage(balancer()), null);
  assert.deepEqual(haproxyStatusPage(balancer({ bind_address: '127.0.0.1', stats: { port: 9000, uri: '/haproxy', auth: 'admin:secret' } })), { address: '127.0.0.1', port: 9000, path: '/haproxy', authenticated: true });
  assert.deepEqual(haproxyStatusPage(balancer({ stats: { port: 9000, bind_address: '10.0.0.2' } })), { address: '10.0.0.2', port: 9000, path: '/', authenticated: false });
});

test('reporter page: why a port is (not) registered, the first reason that applies', () => {
  const port = { registered: false, up: false, drained: null, conflict: null };
  assert.equal(registration({ ...port, registered: true, up: true }), 'registered');
  assert.equal(registration(port), 'down');
  assert.equal(registration({ ...port, up: true }), 'pending');
  assert.equal(registration({ ...port, up: true, registered: true, drained: 'kernel upgrade' }), 'drained', 'drained while the deregistration is under way');
  assert.equal(registration({ ...port, up: true, drained: 'x', conflict: { holder: { session: '0x1' }, session: '0x2', since: 0 } }), 'conflict');
});
