import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { waitFor } from './wait-for.js';

setFlagsFromString('--expose-gc');
/** A full collection, without starting the test runner with --expose-gc (a context made after the flag gets `gc`). */
export const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Waits until nothing holds `ref`'s target any more: each round collects
 * garbage and looks. A target some object still references never goes, and
 * the wait fails at `timeoutMs` (which only bounds the test, it times nothing).
 */
export async function waitCollected(ref: WeakRef<object>, what: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    () => {
      collectGarbage();
      return ref.deref() === undefined;
    },
    `${what} to be collected`,
    timeoutMs,
    50,
  );
}
