import { Script, createContext } from 'node:vm';

/**
 * How long one match of an operator's pattern against a server's answer may
 * take. JavaScript regular expressions backtrack: `(a+)+$` against 26 a's and
 * a `!` takes seconds, against 40 it never ends, and the reporter's one thread
 * would stop with it: every other check, and the ZooKeeper heartbeats that
 * keep all of this host's registrations alive.
 */
export const REGEX_BUDGET_MS = 100;

export type RegexVerdict = 'match' | 'no-match' | 'gave-up';

// One context for every match: creating one costs milliseconds, a run in it
// with a timeout microseconds. V8 interrupts a running regular expression at
// the timeout, as it does a loop.
const context = createContext({ pattern: /$/, text: '' });
const script = new Script('pattern.lastIndex = 0; pattern.test(text)');

/** Tests `pattern` against `text`, giving up after `budgetMs` of matching. */
export function boundedTest(pattern: RegExp, text: string, budgetMs = REGEX_BUDGET_MS): RegexVerdict {
  context.pattern = pattern;
  context.text = text;
  try {
    return script.runInContext(context, { timeout: budgetMs }) === true ? 'match' : 'no-match';
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return 'gave-up';
    throw error;
  } finally {
    context.text = '';
  }
}
