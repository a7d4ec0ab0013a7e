import { z } from 'zod';
import { quote } from './line-exchange.js';
import { REGEX_BUDGET_MS, boundedTest } from './bounded-regex.js';

/**
 * What an answer must contain: a substring, a regular expression, or both.
 * Shared by the http check's body and the tcp check's answer, so both say the
 * same thing the same way when they fail.
 */
export interface TextExpectation {
  /** substring the text must contain */
  contains?: string | undefined;
  /** JavaScript regular expression (source; compiled with the `m` flag, so ^ and $ match at line ends) the text must match */
  regex?: string | undefined;
}

/** A pattern that does not compile is a config error at load, not a failing check at run time. */
export const regexSource = z.string().min(1).superRefine((source, context) => {
  try {
    new RegExp(source);
  } catch (error) {
    context.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(error as Error).message}` });
  }
});

export interface TextVerdict {
  verdict: 'met' | 'unmet' | 'gave-up';
  why?: string;
}

export interface TextMatcher {
  /** met; not met; or the pattern took longer than REGEX_BUDGET_MS on this text (not met either); `why` as `missing` says it */
  judge(text: string): TextVerdict;
  /** undefined when the text meets the expectation; otherwise what was expected, e.g. `contain "ok"` */
  missing(text: string): string | undefined;
  /** what is expected, for messages: `"ok"` or `/^up/` */
  readonly wanted: string;
}

export function textMatcher(expectation: TextExpectation): TextMatcher | undefined {
  const { contains, regex } = expectation;
  if (contains === undefined && regex === undefined) return undefined;
  // Multiline: answers are lines (tcp) or text with line ends (bodies), and
  // `^OK$` should match the line `OK\r\n`, not only an answer without a line end.
  const pattern = regex === undefined ? undefined : new RegExp(regex, 'm');
  const parts = [contains === undefined ? undefined : `containing ${quote(contains, 60)}`, pattern === undefined ? undefined : `matching /${regex}/`].filter(
    (part): part is string => part !== undefined,
  );
  const wanted = parts.join(' and ');
  const judge = (text: string): TextVerdict => {
    if (contains !== undefined && !text.includes(contains)) return { verdict: 'unmet', why: `containing ${quote(contains, 60)}` };
    if (pattern === undefined) return { verdict: 'met' };
    const result = boundedTest(pattern, text);
    if (result === 'match') return { verdict: 'met' };
    // Said in the failure, so the operator fixes the pattern rather than the service.
    if (result === 'gave-up') return { verdict: 'gave-up', why: `matching /${regex}/ (gave up after ${REGEX_BUDGET_MS} ms of matching: the pattern backtracks too much on this answer; simplify it, e.g. no nested repetition like (a+)+)` };
    return { verdict: 'unmet', why: `matching /${regex}/` };
  };
  return {
    wanted,
    judge,
    missing: (text: string) => judge(text).why,
  };
}
