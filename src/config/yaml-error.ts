import type { YAMLError } from 'yaml';
import { redactLine } from '../lib/redact-secrets.js';

/**
 * A YAML syntax error as one line that still shows where: the library's
 * message ends in `at line L, column C:` followed by a multi-line snippet,
 * which a one-line problem would cut off at the colon. Instead the offending
 * line is quoted with the text from the column on (or, past the end of the
 * file, the last line is quoted: an unclosed `[`, `{` or quote ends there).
 */
export function yamlErrorMessage(error: YAMLError, text: string): string {
  const reason = error.message
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    // The library's advice is for programmers; the operator's fix is in the file.
    .replace(/; please use YAML\.parseAllDocuments\(\)/, ' (a config file is one YAML document: remove this "---" and what follows, or move it to a file of its own)');
  const position = error.linePos?.[0];
  if (!position) return reason;
  const lines = text.split(/\r?\n/);
  const line = lines[position.line - 1];
  if (line === undefined || line.trim() === '') {
    const last = lastNonEmpty(lines, position.line - 1);
    if (last === undefined) return `${reason} (at the end of the file)`;
    const quoted = redactLine(lines[last]!);
    return `${reason} (at the end of the file; line ${last + 1} reads ${JSON.stringify(clip(quoted, quoted.length))})`;
  }
  // The message goes to logs and tickets: a line holding a credential is quoted without it, and then not in part from the column.
  const shown = redactLine(line);
  if (shown !== line) return `${reason} (the line reads ${JSON.stringify(clip(shown, position.col))}; column ${position.col})`;
  const from = line.slice(position.col - 1);
  const at = from.trim() !== '' && from !== line ? `; here, column ${position.col}: ${JSON.stringify(clip(from))}` : `; column ${position.col}`;
  return `${reason} (the line reads ${JSON.stringify(clip(line, position.col))}${at})`;
}

function lastNonEmpty(lines: readonly string[], before: number): number | undefined {
  for (let index = Math.min(before, lines.length) - 1; index >= 0; index -= 1) if (lines[index]!.trim() !== '') return index;
  return undefined;
}

/** At most QUOTE_MAX characters of a line (a minified file is one long line), around `column` (1-based) when given. */
const QUOTE_MAX = 120;

function clip(text: string, column = 1): string {
  if (text.length <= QUOTE_MAX) return text;
  const start = Math.max(0, Math.min(column - 1 - QUOTE_MAX / 2, text.length - QUOTE_MAX));
  return `${start > 0 ? '...' : ''}${text.slice(start, start + QUOTE_MAX)}${start + QUOTE_MAX < text.length ? '...' : ''}`;
}
