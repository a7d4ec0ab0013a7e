import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Registry } from 'prom-client';
import { SERVER_STATES, serverState, serverStateMetricText } from '../../src/cli/server-metrics.js';
import { metricsText } from '../../src/cli/http-endpoint.js';
import type { Writer } from '../../src/writer/writer.js';

const rows = [
  { proxy: 'web', server: 'a.example.com:80', status: 'UP' },
  { proxy: 'web', server: 'b.example.com:80', status: 'DOWN 1/2' },
  { proxy: 'web', server: 'BACKEND', status: 'UP' },
  { proxy: 'web', server: 'we"ird\\na\nme', status: 'MAINT' },
  { proxy: 'api', server: 'c:1', status: 'no check' },
  { proxy: 'api', server: 'd:1', status: 'DRAIN' },
  { proxy: 'not-a-cluster', server: 'x:1', status: 'UP' },
  { proxy: 'api', server: 'e:1', status: 'weird' },
];

/** Just what serverStateMetricText reads of a writer. */
const writer = {
  clusters: () => [{ item: { name: 'web' } }, { item: { name: 'api' } }],
  balancerNames: () => ['haproxy', 'silent'],
  balancer: (name: string) => (name === 'haproxy' ? { stats: () => ({ servers: async () => rows }) } : undefined),
} as unknown as Writer;

/** What the prom-client Gauge it replaces wrote for the same rows. */
async function gaugeText(registry: Registry): Promise<void> {
  const gauge = new Gauge({
    name: 'lighthouse_server_state',
    help: 'state of each server of a cluster backend as HAProxy has it (1 for its current state): up, down, unchecked (no health check: routed, health unknown), maint, drain',
    labelNames: ['cluster', 'server', 'state'],
    registers: [registry],
  });
  for (const row of rows) {
    if (!['web', 'api'].includes(row.proxy) || row.server === 'BACKEND') continue;
    const state = serverState(row.status);
    if (!state) continue;
    for (const each of SERVER_STATES) gauge.set({ cluster: row.proxy, server: row.server, state: each }, each === state ? 1 : 0);
  }
  await Promise.resolve();
}

test('lighthouse_server_state as text is byte for byte what the prom-client Gauge wrote, label escapes included', async () => {
  const reference = new Registry();
  await gaugeText(reference);
  assert.equal(await serverStateMetricText(writer), await reference.metrics());
});

test('/metrics: the registry, then the text metric, separated as prom-client separates its own', async () => {
  const both = new Registry();
  new Counter({ name: 'lighthouse_things_total', help: 'things', registers: [both] }).inc(3);
  await gaugeText(both);
  const registry = new Registry();
  new Counter({ name: 'lighthouse_things_total', help: 'things', registers: [registry] }).inc(3);
  assert.equal(await metricsText({ registry, metricTexts: [() => serverStateMetricText(writer)] }), await both.metrics());
});

test('10,000 servers: 50,000 series, one per state of each', async () => {
  const many = Array.from({ length: 10_000 }, (_, i) => ({ proxy: `c${i % 1000}`, server: `s${i}:80`, status: i % 7 === 0 ? 'DOWN' : 'UP' }));
  const big = {
    clusters: () => Array.from({ length: 1000 }, (_, i) => ({ item: { name: `c${i}` } })),
    balancerNames: () => ['haproxy'],
    balancer: () => ({ stats: () => ({ servers: async () => many }) }),
  } as unknown as Writer;
  const text = await serverStateMetricText(big);
  const series = text.split('\n').filter((line) => line.startsWith('lighthouse_server_state{'));
  assert.equal(series.length, 50_000);
  assert.equal(series.filter((line) => line.endsWith(' 1')).length, 10_000);
});
