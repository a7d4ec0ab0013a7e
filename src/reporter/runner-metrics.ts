import type { ReporterMetrics } from '../lib/metrics.js';
import type { ServiceRunner } from './service-runner.js';
import type { PortSeries } from './port-series.js';

/** The reporter's per-port gauges, which remember their series so a port that goes takes them along. */
export interface RunnerPortSeries {
  registered: PortSeries;
  checkUp: PortSeries;
}

interface BoundCheck {
  count(): void;
  observe(seconds: number): void;
  up(value: number): void;
}

/**
 * Counts one runner's events into the reporter's metrics: check results and
 * durations, transitions, conflicts and registered ports. `onConflict` is
 * told after the conflict metrics are up to date.
 */
export function countRunnerEvents(runner: ServiceRunner, service: string, metrics: ReporterMetrics, series: RunnerPortSeries, onConflict: () => void): void {
  // Metric setters bound once per port, check and result: looking the label set up on every
  // one of ~1,000 results a second showed in the reporter's profile (prom-client hashes it on
  // every call, bound children included, so runs are counted in plain numbers, see DeferredCounts).
  const bound = new Map<number, Map<string, { pass?: BoundCheck; fail?: BoundCheck }>>();
  runner.onCheckResult((event) => {
    let checks = bound.get(event.port);
    if (!checks) bound.set(event.port, (checks = new Map()));
    let results = checks.get(event.check);
    if (!results) checks.set(event.check, (results = {}));
    const result = event.passed ? 'pass' : 'fail';
    let metric = results[result];
    if (!metric) {
      const port = String(event.port);
      const histogram = metrics.checkDuration.labels({ service: event.service, check: event.check });
      metric = {
        count: metrics.checkRuns.bind({ service: event.service, port, check: event.check, result }),
        observe: (seconds) => histogram.observe(seconds),
        up: series.checkUp.bind({ service: event.service, port, check: event.check }),
      };
      results[result] = metric;
    }
    metric.count();
    metric.observe(event.durationMs / 1000);
    metric.up(event.up ? 1 : 0);
  });
  runner.onTransition((event) => metrics.transitions.inc({ service: event.service, to: event.up ? 'up' : 'down' }));
  runner.onConflict((event) => {
    if (event.conflict) metrics.conflicts.inc({ service });
    metrics.conflicting.set({ service }, runner.status().ports.filter((port) => port.conflict !== null).length);
    onConflict();
  });
  // Registration events fire inside the write, before the runner marks the port registered (or not);
  // counting on the next turn sees the state the event announced instead of the one before it.
  runner.onRegistration(() => {
    const ports = runner.status().ports;
    for (const port of ports) series.registered.set({ service, port: String(port.port) }, port.registered ? 1 : 0);
    const current = new Set(ports.map((port) => String(port.port)));
    series.registered.prune(service, current);
    series.checkUp.prune(service, current);
  });
}
