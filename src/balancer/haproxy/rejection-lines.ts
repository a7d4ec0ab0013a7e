import { redactLine } from '../../lib/redact-secrets.js';
import type { RenderedConfig } from './render.js';

/**
 * HAProxy's complaints about a rendered config, readable after the fact.
 * `haproxy -c` cites `[<candidate file>:LINE]`, a temp file (check-config) or
 * a candidate that is deleted as soon as it is refused, so a cited line
 * could never be looked up: each citation becomes the line's own text. The
 * quoted line is shown without its credentials (`stats auth user:pass`): it
 * goes to logs. The closing summaries (`Error(s) found in configuration file : <file>`,
 * `Fatal errors found in configuration.`) only repeat that there were errors.
 */
export function quoteRejectionLines(lines: readonly string[], rendered: RenderedConfig): string[] {
  const text = rendered.text.split('\n');
  const quoted = lines
    .filter((line) => !/^Error\(s\) found in configuration file\b/.test(line) && !/^Fatal errors found in configuration\b/.test(line))
    .map((line) =>
      line.replace(/\[[^\]\s]*:(\d+)\]/g, (citation, number: string) => {
        const source = text[Number(number) - 1];
        return source === undefined ? citation : `rendered line ${number} ${JSON.stringify(redactLine(source.trim()))}`;
      }),
    );
  return quoted.length > 0 ? quoted : [...lines];
}
