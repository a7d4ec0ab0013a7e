/**
 * JSON.parse keeps the last of two equal keys without a word; strict parsers
 * (and log pipelines built on them) refuse such a line. This reader refuses
 * it too, naming the key, and otherwise returns what JSON.parse would.
 */
export function parseStrictJson(text: string): unknown {
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at offset ${at}: ${text.slice(Math.max(0, at - 40), at + 40)}`);
  };
  const space = (): void => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at += 1;
  };
  const string = (): string => {
    const start = at;
    at += 1;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (at >= text.length) fail('unterminated string');
    at += 1;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (): void => {
    space();
    const char = text[at];
    if (char === '{') {
      at += 1;
      const keys = new Set<string>();
      space();
      if (text[at] === '}') {
        at += 1;
        return;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail('expected a key');
        const key = string();
        if (keys.has(key)) fail(`duplicate key "${key}"`);
        keys.add(key);
        space();
        if (text[at] !== ':') fail('expected ":"');
        at += 1;
        value();
        space();
        if (text[at] === ',') at += 1;
        else if (text[at] === '}') {
          at += 1;
          return;
        } else fail('expected "," or "}"');
      }
    }
    if (char === '[') {
      at += 1;
      space();
      if (text[at] === ']') {
        at += 1;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[at] === ',') at += 1;
        else if (text[at] === ']') {
          at += 1;
          return;
        } else fail('expected "," or "]"');
      }
    }
    if (char === '"') {
      string();
      return;
    }
    const scalar = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(at));
    if (!scalar) fail('unexpected character');
    at += scalar![0].length;
  };
  value();
  space();
  if (at !== text.length) fail('trailing text');
  return JSON.parse(text);
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LevelName = (typeof LEVELS)[number];

/** A log line's level is at least `floor` (level names; pino's numbers, 10 to 60, too, so older logs compare alike). */
export function atLeast(line: { level?: unknown }, floor: LevelName): boolean {
  const index = typeof line.level === 'number' ? line.level / 10 - 1 : LEVELS.indexOf(line.level as LevelName);
  return index >= LEVELS.indexOf(floor);
}
