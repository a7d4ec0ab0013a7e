/** Polls until `probe` returns something truthy; throws naming `what` after `timeoutMs`. */
export async function pollUntil<T>(probe: () => T | Promise<T>, what: string, timeoutMs: number, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  // Plain: every caller that shows it wraps or replaces it in its own terms (release-hold's message, the demo's LH_DEMO_START).
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
}
