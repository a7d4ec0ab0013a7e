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
  private readonly written = new Map<string, { labels: Labels; value: number }>();

  constructor(private readonly gauge: Gauge<string>) {}

  set(labels: Labels, value: number): void {
    this.written.set(JSON.stringify(labels), { labels, value });
    this.gauge.set(labels, value);
  }

  /**
   * A setter for one label set that writes only a changed value: a check's
   * verdict is the same on almost every run, and prom-client hashes the
   * label set on every `set`.
   */
  bind(labels: Labels): (value: number) => void {
    const key = JSON.stringify(labels);
    return (value) => {
      if (this.written.get(key)?.value === value) return;
      this.written.set(key, { labels, value });
      this.gauge.set(labels, value);
    };
  }

  /** Removes the series of `service` whose port is not in `ports` (none given: all of them). */
  prune(service: string, ports: ReadonlySet<string> = new Set()): void {
    this.pruneTo(service, (labels) => ports.has(labels.port ?? ''));
  }

  /** Removes the series of `service` that `keep` does not keep (a check taken out of a port that stays). */
  pruneTo(service: string, keep: (labels: Readonly<Labels>) => boolean): void {
    for (const [key, { labels }] of this.written) {
      if (labels.service !== service || keep(labels)) continue;
      this.gauge.remove(labels);
      this.written.delete(key);
    }
  }
}
