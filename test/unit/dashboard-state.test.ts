import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Balancer, BalancerServerStat, BalancerStats } from '../../src/balancer/types.js';
import type { ClusterItem } from '../../src/config/model.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import { Dashboard, type DashboardWriter } from '../../src/cli/dashboard.js';
import { LEFT_DISCOVERY, memberHealth } from '../../src/cli/dashboard-changes.js';
import { ClusterStateStore, type ChangeCause, type MemberChange } from '../../src/writer/cluster-state.js';

const node = (host: string, port = 80): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata: {}, peer: null });
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The writer as the dashboard sees it, over a real ClusterStateStore (removal guard included). */
class FakeWriter implements DashboardWriter {
  ready = true;
  readonly store = new ClusterStateStore();
  readonly items = new Map<string, ClusterItem>();
  servers: BalancerServerStat[] = [];
  private readonly synced = new Set<() => void>();
  private readonly changed = new Set<(change: MemberChange, cause: ChangeCause) => void>();
  private readonly stats: BalancerStats = {
    counters: { runtimeChanges: 0 },
    up: true,
    servers: async () => this.servers,
    frontends: () => new Map([['web', { address: null, port: 8080, via: null }]]),
    statusPage: { address: '127.0.0.1', port: 9000, path: '/stats', authenticated: true },
  };

  clusters() {
    return [...this.items.values()].map((item) => ({ item, state: this.store.get(item.name) }));
  }
  onSynced(listener: () => void) {
    this.synced.add(listener);
    return () => this.synced.delete(listener);
  }
  onMemberChange(listener: (change: MemberChange, cause: ChangeCause) => void) {
    this.changed.add(listener);
    return () => this.changed.delete(listener);
  }
  balancer(name: string): Balancer | undefined {
    return name === 'haproxy' ? { stats: () => this.stats, sync: async () => undefined, validate: async () => [], close: async () => undefined } : undefined;
  }
  balancerNames() {
    return ['haproxy'];
  }
  discoveries() {
    return [];
  }

  configure(...names: string[]): void {
    this.items.clear();
    for (const name of names) this.items.set(name, { kind: 'cluster', name, file: `clusters/${name}.yaml`, hash: name, discovery: 'zookeeper', metaCluster: undefined, balancer: {}, removalGuard: {} });
  }
  /** A member set from discovery, then a sync. */
  report(cluster: string, members: ClusterNode[]): void {
    this.tell(this.store.update({ cluster, members, rejected: [] }), 'discovery');
  }
  tell(change: MemberChange | undefined, cause: ChangeCause): void {
    if (change) for (const listener of this.changed) listener(change, cause);
    for (const listener of this.synced) listener();
  }
}

test('health: "no check" and a server HAProxy does not list are unknown, never up', () => {
  assert.equal(memberHealth('no check'), 'unknown');
  assert.equal(memberHealth(null), 'unknown');
  assert.equal(memberHealth(''), 'unknown');
  assert.equal(memberHealth('UP'), 'up');
  assert.equal(memberHealth('UP 1/3'), 'up');
  assert.equal(memberHealth('DOWN'), 'down');
  assert.equal(memberHealth('DOWN 1/2'), 'down');
  assert.equal(memberHealth('MAINT'), 'maintenance');
  assert.equal(memberHealth('MAINT (resolution)'), 'maintenance');
  assert.equal(memberHealth('DRAIN'), 'draining');
  assert.equal(memberHealth('NOLB'), 'draining');
});

test('state: each member\'s health and check, the cluster\'s frontend, the stats page without its password, ISO times', async () => {
  const writer = new FakeWriter();
  writer.configure('web');
  const dashboard = new Dashboard(writer);
  writer.report('web', [node('a'), node('b'), node('c')]);
  writer.servers = [
    { proxy: 'web', server: 'a:80', status: 'no check', currentSessions: 0, totalSessions: 3 },
    { proxy: 'web', server: 'b:80', status: 'DOWN', currentSessions: 0, totalSessions: 1, check: 'L4CON Connection refused' },
  ];
  const state = await dashboard.state();
  const web = state.clusters[0]!;
  assert.deepEqual(
    web.members.map((m) => [m.node, m.status, m.health, m.check]),
    [
      ['a:80', 'no check', 'unknown', null],
      ['b:80', 'DOWN', 'down', 'L4CON Connection refused'],
      ['c:80', null, 'unknown', null],
    ],
  );
  assert.deepEqual(web.frontend, { balancer: 'haproxy', address: null, port: 8080, via: null });
  assert.deepEqual(state.balancers[0]!.statusPage, { address: '127.0.0.1', port: 9000, path: '/stats', authenticated: true });
  assert.equal(state.balancers[0]!.reportsFrontends, true);
  assert.match(state.at, ISO);
  assert.match(web.updatedAt ?? '', ISO);
  assert.match(state.changes[0]!.at, ISO);
  dashboard.close();
});

test('changes carry their reason: started, left discovery, held, released by an operator, listed again, cluster removed', async () => {
  const writer = new FakeWriter();
  writer.configure('web');
  const dashboard = new Dashboard(writer);
  writer.report('web', [node('a'), node('b'), node('c'), node('d')]);
  const reasons = async () => (await dashboard.state()).changes.map((change) => `${change.change} ${change.node}: ${change.reason}`);
  assert.deepEqual((await reasons()).sort(), ['a', 'b', 'c', 'd'].map((host) => `added ${host}:80: discovery lists it (writer started)`));

  writer.report('web', [node('a'), node('b'), node('c')]);
  assert.equal((await reasons())[0], `removed d:80: ${LEFT_DISCOVERY}`);

  writer.report('web', [node('a'), node('e')]);
  assert.deepEqual((await reasons()).slice(0, 3), [`removed c:80: ${LEFT_DISCOVERY}`, `removed b:80: ${LEFT_DISCOVERY}`, 'added e:80: registered: discovery lists it']);

  // 4 listed within the guard's window, 0 now: all held.
  writer.report('web', []);
  const held = (await reasons()).slice(0, 2);
  assert.deepEqual(held.sort(), ['a:80', 'e:80'].map((key) => `held ${key}: left discovery; the removal guard keeps it routed: discovery lists 0 of 4 recently listed, below the floor of 2`));

  writer.report('web', [node('a')]);
  const after = await reasons();
  assert.ok(after.includes('listed a:80: listed by discovery again; no longer held'), after.join('\n'));

  writer.tell(writer.store.release('web'), 'operator-release');
  assert.equal((await reasons())[0], 'removed e:80: was held; released by an operator (lighthouse release-hold)');

  writer.configure();
  writer.tell(undefined, 'discovery');
  assert.equal((await reasons())[0], 'removed all 1 members: cluster removed from the config');
  dashboard.close();
});

test('sampling: history points with sessions per interval, and the balancer\'s health changes with its check output', async () => {
  const writer = new FakeWriter();
  writer.configure('web');
  writer.report('web', [node('a'), node('b')]);
  const dashboard = new Dashboard(writer, { historyIntervalMs: 1000 });
  writer.servers = [
    { proxy: 'web', server: 'a:80', status: 'UP', currentSessions: 0, totalSessions: 100 },
    { proxy: 'web', server: 'b:80', status: 'UP', currentSessions: 0, totalSessions: 50 },
  ];
  await dashboard.sample();
  writer.servers = [
    { proxy: 'web', server: 'a:80', status: 'UP', currentSessions: 0, totalSessions: 107 },
    { proxy: 'web', server: 'b:80', status: 'DOWN', currentSessions: 0, totalSessions: 50, check: 'L7STS/500 Internal Server Error' },
  ];
  await dashboard.sample();
  const history = dashboard.history();
  assert.equal(history.intervalSeconds, 1);
  assert.equal(history.spanSeconds, 720, 'one sample a second: 720 samples, less than the hour');
  assert.deepEqual(
    history.clusters.web!.map((p) => [p.members, p.up, p.requests]),
    [
      [2, 2, 0],
      [2, 1, 7],
    ],
  );
  const health = (await dashboard.state()).changes[0]!;
  assert.equal(health.change, 'health');
  assert.equal(health.node, 'b:80');
  assert.equal(health.reason, 'balancer: UP \u2192 DOWN: its health check failed (L7STS/500 Internal Server Error)');
  dashboard.close();
});

test('sampling: many members changing health at once are one entry, so membership changes stay in the list', async () => {
  const writer = new FakeWriter();
  writer.configure('web');
  const hosts = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const dashboard = new Dashboard(writer);
  writer.report('web', hosts.map((host) => node(host)));
  const stats = (status: string) => hosts.map((host) => ({ proxy: 'web', server: `${host}:80`, status, currentSessions: 0, totalSessions: 0 }));
  writer.servers = stats('UP');
  await dashboard.sample();
  writer.servers = stats('DOWN');
  await dashboard.sample();
  const changes = (await dashboard.state()).changes;
  assert.equal(changes.length, hosts.length + 1, 'seven additions and one health entry');
  assert.deepEqual([changes[0]!.change, changes[0]!.node, changes[0]!.reason], ['health', '7 members', 'balancer: 7 UP \u2192 DOWN']);
  dashboard.close();
});

test('history: clusters named like Object\'s own properties ("__proto__", "constructor") keep their points', async () => {
  const writer = new FakeWriter();
  writer.configure('__proto__', 'constructor');
  writer.report('__proto__', [node('a')]);
  writer.report('constructor', [node('b')]);
  const dashboard = new Dashboard(writer);
  await dashboard.sample();
  const json = JSON.parse(JSON.stringify(dashboard.history())) as { clusters: Record<string, unknown[]> };
  assert.deepEqual(Object.keys(json.clusters).sort(), ['__proto__', 'constructor']);
  assert.equal(Object.getOwnPropertyDescriptor(json.clusters, '__proto__')?.value?.length, 1);
  dashboard.close();
});
