import type { Gauge } from 'prom-client';

type Labels = Record<string, string>;

/**
 * The per-port series of one gauge (`lighthouse_registrations{service,port}`,
 * `lighthouse_check_up{service,port,check}`): prom-client removes a series
 * only by its full label set, so the sets written are remembered, and a
 * port or service that goes takes its series along instead of leaving its
 * last value (a `1` for a port no longer there) on every scrape.
 */
export class PortSeries {
  private readonly written = new Map<string, Labels>();

  constructor(private readonly gauge: Gauge<string>) {}

  set(labels: Labels, value: number): void {
    this.written.set(JSON.stringify(labels), labels);
    this.gauge.set(labels, value);
  }

  /** Removes the series of `service` whose port is not in `ports` (none given: all of them). */
  prune(service: string, ports: ReadonlySet<string> = new Set()): void {
    for (const [key, labels] of this.written) {
      if (labels.service !== service || ports.has(labels.port ?? '')) continue;
      this.gauge.remove(labels);
      this.written.delete(key);
    }
  }
}
