/**
 * Line breaks and other control characters (C0, DEL, C1, U+2028/U+2029) as
 * JSON-style escapes (`\n`, `\u001b`), so a user-controlled string (a file
 * name, a YAML key, a quoted value) can never split or forge a line of
 * one-line-per-item output or move a terminal's cursor. Everything else is
 * left as it is.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const SHORT: Readonly<Record<string, string>> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

export function oneLine(text: string): string {
  return text.replace(CONTROL, (char) => SHORT[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
