import type { CheckOutcome } from '../checks/types.js';
import { errorMessage } from '../lib/errors.js';
import { oneLine } from '../lib/one-line.js';

/**
 * Longest detail kept from a plugin. A plugin that returns a command's
 * output may return anything: it goes into a log line per failure episode
 * and into `status`, so it is cut, and its line breaks and control
 * characters are escaped (a detail could otherwise forge lines of the
 * pretty log, or move the terminal's cursor).
 */
export const MAX_DETAIL_CHARS = 1_000;

/**
 * What a check's `run` resolved with, as the runner may trust it. A plugin is
 * code the core did not write: a `passed` that is not a boolean (`'false'`
 * is truthy), a missing outcome or a `detail` that is not a string would
 * register a failing port, or throw inside the check loop on every run. Any
 * of these is a failed run whose detail names the check plugin.
 */
export function validOutcome(kind: string, value: unknown): CheckOutcome {
  try {
    return checkedOutcome(kind, value);
  } catch (error) {
    // A getter or proxy that throws: still one failed run, not a rejection inside the loop.
    return { passed: false, detail: `check plugin "${kind}" resolved with an unreadable value: ${boundedDetail(errorMessage(error))}` };
  }
}

function checkedOutcome(kind: string, value: unknown): CheckOutcome {
  if (typeof value !== 'object' || value === null) {
    return { passed: false, detail: `check plugin "${kind}" resolved with ${describe(value)}, not { passed: boolean, detail?: string }` };
  }
  const { passed, detail } = value as { passed?: unknown; detail?: unknown };
  if (typeof passed !== 'boolean') {
    return { passed: false, detail: `check plugin "${kind}" resolved with passed: ${describe(passed)}, not a boolean` };
  }
  if (detail !== undefined && typeof detail !== 'string') {
    return { passed: false, detail: `check plugin "${kind}" resolved with detail: ${describe(detail)}, not a string` };
  }
  return { passed, detail: detail === undefined ? undefined : boundedDetail(detail) };
}

function boundedDetail(detail: string): string {
  const cut = detail.length > MAX_DETAIL_CHARS ? `${detail.slice(0, MAX_DETAIL_CHARS)}... (${detail.length} characters)` : detail;
  return oneLine(cut);
}

/** A run that threw or rejected: the contract says resolve, so the plugin is named. */
export function thrownOutcome(kind: string, error: unknown): CheckOutcome {
  return { passed: false, detail: `check plugin "${kind}" threw: ${boundedDetail(errorMessage(error))}` };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value).slice(0, 60);
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
