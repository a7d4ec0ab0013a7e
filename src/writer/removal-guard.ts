/** How far a cluster's listed members may drop at once before the writer stops believing discovery. */
export interface RemovalGuardSettings {
  /** false: every removal discovery reports is applied at once (the behaviour before the guard) */
  enabled: boolean;
  /** fewer listed members than this holds the removed ones; 1 = an empty list never empties a backend */
  minMembers: number;
  /** fewer listed members than this fraction of the most recently listed (see windowMs) holds the removed ones; 0 = off */
  panicThreshold: number;
  /** how long a member count counts as "recently listed": members vanishing over several events within it still count as one drop */
  windowMs: number;
  /** held members are TCP-probed by the writer and dropped from the hold when they do not answer */
  probeHeld: boolean;
}

export const DEFAULT_REMOVAL_GUARD: RemovalGuardSettings = Object.freeze({
  enabled: true,
  minMembers: 1,
  panicThreshold: 0.5,
  windowMs: 60_000,
  probeHeld: true,
});

/** A hold in force: discovery lists fewer members than the floor, so the removed ones stay routed. */
export interface Hold {
  /** members discovery lists now */
  listed: number;
  /** the member count the drop is measured against (most members listed within the window before the drop) */
  reference: number;
  /** listed members needed to release the hold on its own */
  floor: number;
  /** when the hold started (ms since epoch) */
  since: number;
}

interface Sample {
  at: number;
  count: number;
}

/**
 * The removal guard of one cluster. It only counts: `assess` is called with
 * the sizes of each new member set and answers whether the members that set
 * removes must be held. A single removal from a healthy cluster costs a few
 * comparisons and is never delayed.
 */
export class RemovalGuard {
  private samples: Sample[] = [];
  private current: Hold | undefined;
  /** the listed count an operator accepted: no hold until the count moves */
  private accepted: number | undefined;

  constructor(
    private settings: RemovalGuardSettings,
    private readonly now: () => number = Date.now,
  ) {}

  get hold(): Hold | undefined {
    return this.current;
  }

  get config(): RemovalGuardSettings {
    return this.settings;
  }

  configure(settings: RemovalGuardSettings): void {
    this.settings = settings;
    // A hold in force is judged by the new floor at once, against the count it started from.
    if (this.current) this.current = { ...this.current, floor: floorOf(settings, this.current.reference) };
  }

  /** Counts the members a backend already had before discovery spoke (a restart's cached members). */
  seed(count: number): void {
    if (this.samples.length === 0) this.samples.push({ at: this.now(), count });
  }

  /**
   * `listed`: members in the new set; `removing`: members of the routed set
   * the new one lacks. True when those members must stay routed.
   */
  assess(listed: number, removing: number): boolean {
    const now = this.now();
    const reference = this.reference(now);
    this.record(now, listed);
    if (!this.settings.enabled) {
      this.current = undefined;
      return false;
    }
    if (this.current) {
      if (listed >= this.current.floor || removing === 0) {
        this.current = undefined;
        return false;
      }
      this.current = { ...this.current, listed };
      return true;
    }
    if (this.accepted !== undefined && listed !== this.accepted) this.accepted = undefined;
    if (removing === 0 || this.accepted !== undefined) return false;
    const floor = floorOf(this.settings, reference);
    if (listed >= floor) return false;
    this.current = { listed, reference, floor, since: now };
    return true;
  }

  /**
   * An operator (or a probe) says the drop is real: the hold ends, and the
   * current count becomes the only recent one, so the same drop is not held again.
   */
  release(listed: number): void {
    this.current = undefined;
    this.accepted = listed;
    this.samples = [{ at: this.now(), count: listed }];
  }

  /** The largest count within the window, and always the latest one however old. */
  private reference(now: number): number {
    let max = 0;
    const last = this.samples.length - 1;
    this.samples.forEach((sample, index) => {
      if (index === last || now - sample.at <= this.settings.windowMs) max = Math.max(max, sample.count);
    });
    return max;
  }

  private record(now: number, count: number): void {
    const last = this.samples.at(-1);
    if (last?.count === count) return;
    // Samples older than the window only matter as "the latest": drop the rest so the list stays short.
    this.samples = this.samples.filter((sample, index) => index === this.samples.length - 1 || now - sample.at <= this.settings.windowMs);
    this.samples.push({ at: now, count });
  }
}

function floorOf(settings: RemovalGuardSettings, reference: number): number {
  return Math.max(settings.minMembers, settings.panicThreshold * reference);
}

/** A cluster file's `removal_guard:` over the writer-wide defaults. */
export function guardSettings(overrides: { enabled?: boolean; min_members?: number; panic_threshold?: number; window?: number; probe_held?: boolean }, defaults: RemovalGuardSettings = DEFAULT_REMOVAL_GUARD): RemovalGuardSettings {
  return {
    enabled: overrides.enabled ?? defaults.enabled,
    minMembers: overrides.min_members ?? defaults.minMembers,
    panicThreshold: overrides.panic_threshold ?? defaults.panicThreshold,
    windowMs: overrides.window !== undefined ? Math.round(overrides.window * 1000) : defaults.windowMs,
    probeHeld: overrides.probe_held ?? defaults.probeHeld,
  };
}
