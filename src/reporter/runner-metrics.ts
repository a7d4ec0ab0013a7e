import type { ReporterMetrics } from '../lib/metrics.js';
import type { ServiceRunner } from './service-runner.js';
import type { PortSeries } from './port-series.js';

/** The reporter's per-port gauges, which remember their series so a port that goes takes them along. */
export interface RunnerPortSeries {
  registered: PortSeries;
  checkUp: PortSeries;
}

/**
 * Counts one runner's events into the reporter's metrics: check results and
 * durations, transitions, conflicts and registered ports. `onConflict` is
 * told after the conflict metrics are up to date.
 */
export function countRunnerEvents(runner: ServiceRunner, service: string, metrics: ReporterMetrics, series: RunnerPortSeries, onConflict: () => void): void {
  // Label children bound once per check kind and result: looking the label set up on every
  // one of ~1,000 results a second showed in the reporter's profile.
  const counted = new Map<string, { count(): void; observe(seconds: number): void }>();
  runner.onCheckResult((event) => {
    const result = event.passed ? 'pass' : 'fail';
    const key = `${event.port}\0${event.check}\0${result}`;
    let metric = counted.get(key);
    if (!metric) {
      const counter = metrics.checks.labels({ service: event.service, port: String(event.port), check: event.check, result });
      const histogram = metrics.checkDuration.labels({ service: event.service, check: event.check });
      metric = { count: () => counter.inc(), observe: (seconds) => histogram.observe(seconds) };
      counted.set(key, metric);
    }
    metric.count();
    metric.observe(event.durationMs / 1000);
    series.checkUp.set({ service: event.service, port: String(event.port), check: event.check }, event.up ? 1 : 0);
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
