import type { Counter } from 'prom-client';

/**
 * Increments of a labelled counter kept as plain numbers and added to the
 * counter when it is read (its `collect`). prom-client hashes the label set
 * on every `inc`, bound children (`labels(...)`) included: at 1,000 check
 * runs a second that hashing was a visible part of the reporter's CPU.
 */
export class DeferredCounts<Label extends string> {
  private readonly pending = new Map<string, { labels: Record<Label, string>; count: number }>();
  private counter: Counter<Label> | undefined;

  /** The counter to add to; its `collect` must call `flush()`. */
  attach(counter: Counter<Label>): Counter<Label> {
    this.counter = counter;
    return counter;
  }

  /** An increment of one label set, as cheap as `count += 1`. */
  bind(labels: Record<Label, string>): () => void {
    const key = JSON.stringify(labels);
    let entry = this.pending.get(key);
    if (!entry) {
      entry = { labels, count: 0 };
      this.pending.set(key, entry);
    }
    const counted = entry;
    return () => {
      counted.count += 1;
    };
  }

  /** Adds what was counted since the last flush to the counter. */
  flush(): void {
    if (!this.counter) return;
    for (const entry of this.pending.values()) {
      if (entry.count === 0) continue;
      this.counter.inc(entry.labels, entry.count);
      entry.count = 0;
    }
  }
}
