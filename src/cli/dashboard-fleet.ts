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
  private cached: { at: number; report: FleetReport } | undefined;
  private reading: Promise<FleetReport> | undefined;

  constructor(private readonly options: FleetPanelOptions) {}

  report(): Promise<FleetReport> {
    const now = this.now();
    if (this.cached && now - this.cached.at < (this.options.maxAgeMs ?? 2_000)) return Promise.resolve(this.cached.report);
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async read(): Promise<FleetReport> {
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
    const report = fleetModel(records, this.now(), undefined, problems.sort());
    this.cached = { at: this.now(), report };
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
