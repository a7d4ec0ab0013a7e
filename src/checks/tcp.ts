import { z } from 'zod';
import type { CheckPlugin } from './plugin-types.js';
import type { Check, CheckOutcome, CheckTarget } from './types.js';
import type { StopSignal } from './run-stop.js';
import { describeError, lineExchange, quote } from './line-exchange.js';
import { expectExchange } from './expect-exchange.js';
import { regexSource, textMatcher } from './expectations.js';

export const tcpCheckSchema = z
  .strictObject({
    query: z.string().min(1).optional(),
    /** the first answer line must equal this (the original's rule) */
    response: z.string().optional(),
    /** the answer must contain this text (read up to 16 KiB) */
    expect: z.string().min(1).optional(),
    /** the answer must match this JavaScript regular expression */
    expect_regex: regexSource.optional(),
  })
  .superRefine((value, context) => {
    const expects = value.expect !== undefined || value.expect_regex !== undefined;
    if (value.query !== undefined && value.response === undefined && !expects) {
      context.addIssue({ code: 'custom', path: ['response'], message: 'is required when "query" is set (set both or neither, or use "expect" / "expect_regex" instead)' });
    }
    if (value.response !== undefined && value.query === undefined) {
      context.addIssue({ code: 'custom', path: ['query'], message: 'is required when "response" is set (set both or neither)' });
    }
    if (value.response !== undefined && expects) {
      context.addIssue({ code: 'custom', path: ['response'], message: 'compares the first line exactly; "expect" / "expect_regex" search the answer (keep one way)' });
    }
  });

export type TcpCheckConfig = z.infer<typeof tcpCheckSchema>;

/**
 * The query goes out with a `\n` appended unless it already ends with one.
 * The answer is compared line by line, so the protocols this check is for are
 * line protocols; a YAML plain scalar cannot end in a newline, and without
 * one such servers wait for the rest of the line until the check times out
 * (the original's redis check hung exactly that way). Queries that already
 * end in `\n` or `\r\n` (configs written for the original) go out unchanged.
 */
export function wireQuery(query: string): string {
  return query.endsWith('\n') ? query : `${query}\n`;
}

/** `response` is compared without its line end, the same way the received line is. */
function expectedLine(response: string): string {
  return response.replace(/\r?\n$/, '');
}

/**
 * With `expect` / `expect_regex`: sends `query` (if set) and passes as soon as
 * the answer read so far meets them (see expectExchange). Without
 * query/response: passes when a connection is accepted. With both:
 * sends the query and passes when the first line of the answer (or the whole
 * answer, if the server closes without a line end, as ZooKeeper's `ruok` does)
 * equals `response`.
 */
export const tcpCheck: CheckPlugin<TcpCheckConfig> = {
  kind: 'tcp',
  schema: tcpCheckSchema,
  create(config: TcpCheckConfig, target: CheckTarget): Check {
    const where = `tcp ${target.host}:${target.port}`;
    const query = config.query;
    const response = config.response;
    const expected = textMatcher({ contains: config.expect, regex: config.expect_regex });
    if (expected) {
      const wire = query === undefined ? undefined : wireQuery(query);
      const asked = query === undefined ? 'the answer' : `the answer to ${quote(query, 60)}`;
      const run = async (signal: StopSignal): Promise<CheckOutcome> => {
        // A pattern that gave up ends the read (more text only costs more), and is not run again for the message.
        let gaveUp: string | undefined;
        const met = (text: string): boolean => {
          const { verdict, why } = expected.judge(text);
          if (verdict === 'gave-up') gaveUp = why;
          return verdict !== 'unmet';
        };
        try {
          const answer = await expectExchange(target, signal, wire, met);
          if (answer.met && gaveUp === undefined) return { passed: true, detail: `${where}: answered ${expected.wanted}` };
          const got = answer.text === '' ? 'nothing' : quote(answer.text);
          const why = gaveUp ?? expected.missing(answer.text) ?? expected.wanted;
          return { passed: false, detail: `${where}: ${answer.met ? 'read' : (answer.stopped ?? 'stopped')} with ${got}, expected ${asked} ${why}` };
        } catch (error) {
          return { passed: false, detail: `${where}: ${describeError(error)}` };
        }
      };
      return { run, runStoppable: run };
    }
    const run = async (signal: StopSignal): Promise<CheckOutcome> => {
      try {
        if (query === undefined || response === undefined) {
          await lineExchange(target, signal, undefined, 0);
          return { passed: true, detail: `${where}: connected` };
        }
        const [line] = await lineExchange(target, signal, wireQuery(query), 1);
        if (line === undefined) return { passed: false, detail: `${where}: connection closed without an answer to ${quote(query)}` };
        const expected = expectedLine(response);
        if (line === expected) return { passed: true, detail: `${where}: answered ${quote(line)}` };
        return { passed: false, detail: `${where}: answered ${quote(line)}, expected ${quote(expected)}` };
      } catch (error) {
        return { passed: false, detail: `${where}: ${describeError(error)}` };
      }
    };
    return { run, runStoppable: run };
  },
};
