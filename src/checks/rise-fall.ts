/**
 * Flap damping for one check on one port (SPEC §5): a check is reported up
 * only after `rise` consecutive passes and down only after `fall` consecutive
 * failures. Pure data in, data out, so the thresholds are tested by table and
 * the runner can keep a state across config changes.
 */

export interface Thresholds {
  rise: number;
  fall: number;
}

export interface RiseFallState {
  up: boolean;
  /** consecutive passes since the last failure */
  passes: number;
  /** consecutive failures since the last pass */
  fails: number;
}

export interface RiseFallStep {
  state: RiseFallState;
  /** set when this result flipped the state */
  transition: 'up' | 'down' | null;
}

/** A new port must prove itself `rise` times before it is registered, so the default is down. */
export function initialRiseFall(up = false): RiseFallState {
  return { up, passes: 0, fails: 0 };
}

/**
 * Feeds one result. Counters keep running past the thresholds, so a later,
 * lower threshold (config change) applies to the streak already seen.
 */
export function feedRiseFall(state: RiseFallState, passed: boolean, thresholds: Thresholds): RiseFallStep {
  const passes = passed ? state.passes + 1 : 0;
  const fails = passed ? 0 : state.fails + 1;
  if (!state.up && passed && passes >= thresholds.rise) return { state: { up: true, passes, fails }, transition: 'up' };
  if (state.up && !passed && fails >= thresholds.fall) return { state: { up: false, passes, fails }, transition: 'down' };
  return { state: { up: state.up, passes, fails }, transition: null };
}
