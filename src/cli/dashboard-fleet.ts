import type { DiscoveryItem } from '../config/model.js';
import { decodeAck } from '../discovery/ack-record.js';
import type { Discovery } from '../discovery/types.js';
import { errorMessage } from '../lib/errors.js';
import { fleetModel, type AckRecordRead, type FleetReport } from './fleet-view.js';

/** A discovery instance the writer already has open, with its file. */
export interface OpenDiscovery {
  item: Pick<DiscoveryItem, 'name' | 'file'>;
  instance: Pick<Discovery, 'state' | 'acks'>;
}

/** What `/api/fleet` serves: the report for at most `MAX_WRITERS` writers, with the counts over all of them. */
export interface FleetPanelReport extends FleetReport {
  /** live writers in all (`writers` holds the first MAX_WRITERS by name) */
  writerCount: number;
  /** per cluster, writers behind among all of them */
  behind: Record<string, number>;
}

/** The panel draws this many writers; `lighthouse fleet` (its own process) lists any number. */
export const MAX_WRITERS = 50;
/**
 * Reading and modelling the records runs on the writer's event loop
 * (10,000 writers of 20 clusters: ~1.5 s here). After a read that took T,
 * the next waits at least SPACING x T, so the panel takes at most ~5% of the
 * writer's time however large the fleet.
 */
const SPACING = 20;

export interface FleetPanelOptions {
  /** the writer's open discovery instances (their sessions are reused: the panel opens none) */
  discoveries: () => readonly OpenDiscovery[];
  /** a report younger than this is served as it is: any number of readers cost one read of the records per period */
  maxAgeMs?: number;
  /** deadline of one read of one backend */
  timeoutMs?: number;
  now?: () => number;
}

/**
 * The dashboard's fleet panel: every writer's acknowledgement record, read
 * through this writer's own discovery sessions and modelled by fleet-view.ts
 * (the model behind `lighthouse fleet`). It never calls `connect` on them:
 * that would replace the writer's own session handlers. A backend that is
 * not connected or does not answer is a problem in the report, not an error.
 */
export class FleetPanel {
  private cached: { at: number; maxAgeMs: number; report: FleetPanelReport } | undefined;
  private reading: Promise<FleetPanelReport> | undefined;

  constructor(private readonly options: FleetPanelOptions) {}

  report(): Promise<FleetPanelReport> {
    const now = this.now();
    if (this.cached && now - this.cached.at < this.cached.maxAgeMs) return Promise.resolve(this.cached.report);
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async read(): Promise<FleetPanelReport> {
    const started = performance.now();
    const records: AckRecordRead[] = [];
    const problems: string[] = [];
    await Promise.all(
      this.options.discoveries().map(async ({ item, instance }) => {
        const store = instance.acks;
        if (!store) {
          problems.push(`${item.file}: the "${item.name}" discovery plugin keeps no writer acknowledgements`);
          return;
        }
        if (instance.state !== 'connected') {
          problems.push(`${item.file}: not connected (${instance.state}): the acknowledgements in ${store.location} cannot be read now`);
          return;
        }
        let raw: Map<string, string>;
        try {
          raw = await withDeadline(store.read(), this.options.timeoutMs ?? 2_000, `${store.location} did not answer`);
        } catch (error) {
          problems.push(`${item.file}: cannot read the writers' acknowledgements in ${store.location}: ${errorMessage(error)}`);
          return;
        }
        for (const [name, text] of raw) {
          const decoded = decodeAck(text);
          if (decoded.ok) records.push({ discovery: item.name, record: `${store.location}/${name}`, ack: decoded.ack });
          else problems.push(`${store.location}/${name}: not a writer acknowledgement: ${decoded.error}`);
        }
      }),
    );
    const report = trimmed(fleetModel(records, this.now(), undefined, problems.sort()));
    const took = performance.now() - started;
    this.cached = { at: this.now(), maxAgeMs: Math.max(this.options.maxAgeMs ?? 5_000, SPACING * took), report };
    return report;
  }
}

function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** The first MAX_WRITERS writers and their entries, with the counts over all (10,000 writers: 49 MB of JSON untrimmed). */
function trimmed(report: FleetReport): FleetPanelReport {
  const writers = report.writers.slice(0, MAX_WRITERS);
  const shown = new Set(writers.map((writer) => writer.writer));
  return {
    ...report,
    writers,
    writerCount: report.writers.length,
    behind: Object.fromEntries(report.clusters.map((cluster) => [cluster.name, cluster.writers.filter((writer) => !writer.current).length])),
    clusters: report.clusters.map((cluster) => ({ ...cluster, writers: cluster.writers.filter((writer) => shown.has(writer.writer)) })),
  };
}
