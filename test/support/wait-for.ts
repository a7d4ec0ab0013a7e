import { pollUntil } from '../../src/lib/poll.js';

/**
 * Polls `probe` until it returns a truthy value or `timeoutMs` passes. Tests
 * wait for outcomes this way instead of sleeping, and never assert a duration:
 * the timeout only bounds a hung test.
 */
export function waitFor<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  return pollUntil(probe, what, timeoutMs, everyMs);
}
