import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReporterMetrics } from '../../src/lib/metrics.js';
import { countRunnerEvents } from '../../src/reporter/runner-metrics.js';
import { PortSeries } from '../../src/reporter/port-series.js';
import type { ServiceRunner } from '../../src/reporter/service-runner.js';
import type { CheckResultEvent } from '../../src/reporter/runner-status.js';

/** The runner's event surface countRunnerEvents subscribes to, with the check results driven by the test. */
function fakeRunner(): { runner: ServiceRunner; emit(event: CheckResultEvent): void } {
  const listeners: ((event: CheckResultEvent) => void)[] = [];
  const none = (): (() => void) => () => undefined;
  const runner = {
    onCheckResult: (listener: (event: CheckResultEvent) => void) => {
      listeners.push(listener);
      return () => undefined;
    },
    onTransition: none,
    onConflict: none,
    onRegistration: none,
    status: () => ({ ports: [] }),
  } as unknown as ServiceRunner;
  return { runner, emit: (event) => listeners.forEach((listener) => listener(event)) };
}

const result = (port: number, passed: boolean): CheckResultEvent => ({ service: 'web', port, check: 'http', passed, up: passed, detail: 'http GET', durationMs: 2, at: 0 });

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('check runs cost no label lookups per run: runs are counted in plain numbers, added when scraped, and check_up is written only when it changes', async () => {
  const metrics = createReporterMetrics();
  const checkUp = new PortSeries(metrics.checkUp);
  const calls = { inc: 0, set: 0 };
  const inc = metrics.checks.inc.bind(metrics.checks);
  metrics.checks.inc = ((...args: Parameters<typeof inc>) => {
    calls.inc += 1;
    return inc(...args);
  }) as typeof metrics.checks.inc;
  const set = metrics.checkUp.set.bind(metrics.checkUp);
  metrics.checkUp.set = ((...args: Parameters<typeof set>) => {
    calls.set += 1;
    return set(...args);
  }) as typeof metrics.checkUp.set;
  const { runner, emit } = fakeRunner();
  countRunnerEvents(runner, 'web', metrics, { registered: new PortSeries(metrics.registered), checkUp }, () => undefined);

  for (let round = 0; round < 200; round += 1) for (const port of [8001, 8002, 8003]) emit(result(port, true));
  assert.equal(calls.inc, 0, 'nothing handed to prom-client before a scrape');
  assert.equal(calls.set, 3, 'check_up written once per port, not once per run');

  let text = await metrics.registry.metrics();
  assert.equal(sample(text, 'lighthouse_checks_total', 'service="web",port="8001",check="http",result="pass"'), 200);
  assert.equal(sample(text, 'lighthouse_check_up', 'service="web",port="8002",check="http"'), 1);
  assert.equal(calls.inc, 3, 'one addition per label set at the scrape');

  emit(result(8001, false));
  emit(result(8001, true));
  text = await metrics.registry.metrics();
  assert.equal(sample(text, 'lighthouse_checks_total', 'service="web",port="8001",check="http",result="pass"'), 201, 'counts keep adding up across scrapes');
  assert.equal(sample(text, 'lighthouse_checks_total', 'service="web",port="8001",check="http",result="fail"'), 1);
  assert.equal(calls.set, 5, 'a changed verdict is written (down, then up again)');

  // A series taken away (its port or check went) is written again by the next result.
  checkUp.prune('web', new Set(['8001', '8003']));
  text = await metrics.registry.metrics();
  assert.equal(sample(text, 'lighthouse_check_up', 'service="web",port="8002",check="http"'), undefined);
  emit(result(8002, true));
  text = await metrics.registry.metrics();
  assert.equal(sample(text, 'lighthouse_check_up', 'service="web",port="8002",check="http"'), 1);
});
