import type { HistoryPoint } from '../writer/dashboard-state.js';

/** One sample of one cluster; `at` in ms since epoch. */
export interface HistorySample {
  at: number;
  members: number;
  held: number;
  up: number;
  requests: number;
}

/**
 * A bounded ring of samples: the oldest is overwritten when it is full.
 * Columns in typed arrays, so a thousand clusters of an hour each cost a
 * few MB and no garbage per sample.
 */
export class HistoryRing {
  private readonly at: Float64Array;
  private readonly members: Uint32Array;
  private readonly held: Uint32Array;
  private readonly up: Uint32Array;
  private readonly requests: Float64Array;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a history ring holds at least one sample, not ${capacity}`);
    this.at = new Float64Array(capacity);
    this.members = new Uint32Array(capacity);
    this.held = new Uint32Array(capacity);
    this.up = new Uint32Array(capacity);
    this.requests = new Float64Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(sample: HistorySample): void {
    const index = this.next;
    this.at[index] = sample.at;
    this.members[index] = sample.members;
    this.held[index] = sample.held;
    this.up[index] = sample.up;
    this.requests[index] = sample.requests;
    this.next = (index + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  /** Oldest first; only samples taken at or after `since` when given. */
  samples(since = Number.NEGATIVE_INFINITY): HistorySample[] {
    const out: HistorySample[] = [];
    const first = (this.next - this.count + this.capacity) % this.capacity;
    for (let offset = 0; offset < this.count; offset += 1) {
      const index = (first + offset) % this.capacity;
      const at = this.at[index]!;
      if (at < since) continue;
      out.push({ at, members: this.members[index]!, held: this.held[index]!, up: this.up[index]!, requests: this.requests[index]! });
    }
    return out;
  }
}

/** What one look at a cluster saw: its counts, and each server's total sessions as the balancer counts them. */
export interface ClusterObservation {
  members: number;
  held: number;
  up: number;
  /** by server name; servers the balancer does not list are left out */
  totals: ReadonlyMap<string, number>;
}

/**
 * The history of every cluster: one ring each, and the session totals of
 * the last look, so each sample holds the sessions of its own interval.
 * Balancer counters start at 0 for a server added since (or re-added: a
 * total below the last one), and the first look at a cluster is only a
 * baseline (HAProxy may have served for days before the writer started).
 */
export class ClusterHistories {
  private readonly rings = new Map<string, { ring: HistoryRing; totals: ReadonlyMap<string, number> }>();

  constructor(readonly capacity: number) {}

  record(cluster: string, at: number, seen: ClusterObservation): void {
    const kept = this.rings.get(cluster);
    let requests = 0;
    if (kept) {
      for (const [server, total] of seen.totals) {
        const before = kept.totals.get(server);
        requests += before === undefined || total < before ? total : total - before;
      }
    }
    const ring = kept?.ring ?? new HistoryRing(this.capacity);
    ring.push({ at, members: seen.members, held: seen.held, up: seen.up, requests });
    this.rings.set(cluster, { ring, totals: seen.totals });
  }

  /** Forgets the clusters not in `keep` (removed from the config). */
  retain(keep: ReadonlySet<string>): void {
    for (const cluster of this.rings.keys()) if (!keep.has(cluster)) this.rings.delete(cluster);
  }

  /** A cluster's points since `since`, at most `maxPoints` of them (see {@link downsample}). */
  points(cluster: string, since: number, maxPoints: number): HistoryPoint[] {
    return downsample(this.rings.get(cluster)?.ring.samples(since) ?? [], maxPoints);
  }

  clusters(): string[] {
    return [...this.rings.keys()];
  }
}

/**
 * At most `maxPoints` points for a small chart: consecutive samples are
 * merged, keeping what an operator looks for in a dip: the fewest members
 * and up members, the most held, and every session.
 */
export function downsample(samples: readonly HistorySample[], maxPoints: number): HistoryPoint[] {
  const per = Math.max(1, Math.ceil(samples.length / Math.max(1, maxPoints)));
  const points: HistoryPoint[] = [];
  for (let start = 0; start < samples.length; start += per) {
    const group = samples.slice(start, start + per);
    points.push({
      at: new Date(group.at(-1)!.at).toISOString(),
      members: Math.min(...group.map((sample) => sample.members)),
      held: Math.max(...group.map((sample) => sample.held)),
      up: Math.min(...group.map((sample) => sample.up)),
      requests: group.reduce((sum, sample) => sum + sample.requests, 0),
    });
  }
  return points;
}
