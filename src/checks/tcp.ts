import { z } from 'zod';
import type { CheckPlugin } from './plugin-types.js';
import type { CheckOutcome, CheckTarget } from './types.js';
import { describeError, lineExchange, quote } from './line-exchange.js';

export const tcpCheckSchema = z
  .strictObject({
    query: z.string().min(1).optional(),
    response: z.string().optional(),
  })
  .superRefine((value, context) => {
    if (value.query !== undefined && value.response === undefined) {
      context.addIssue({ code: 'custom', path: ['response'], message: 'is required when "query" is set (set both or neither)' });
    }
    if (value.response !== undefined && value.query === undefined) {
      context.addIssue({ code: 'custom', path: ['query'], message: 'is required when "response" is set (set both or neither)' });
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
 * Without query/response: passes when a connection is accepted. With both:
 * sends the query and passes when the first line of the answer (or the whole
 * answer, if the server closes without a line end, as ZooKeeper's `ruok` does)
 * equals `response`.
 */
export const tcpCheck: CheckPlugin<TcpCheckConfig> = {
  kind: 'tcp',
  schema: tcpCheckSchema,
  create(config: TcpCheckConfig, target: CheckTarget) {
    const where = `tcp ${target.host}:${target.port}`;
    const query = config.query;
    const response = config.response;
    return {
      async run(signal: AbortSignal): Promise<CheckOutcome> {
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
      },
    };
  },
};
