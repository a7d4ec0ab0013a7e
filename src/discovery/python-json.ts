import type { MetadataValue } from './node.js';

/**
 * Serializes like Python's `json.dumps(value, sort_keys=True)`: `", "` and
 * `": "` separators, keys sorted, non-ASCII escaped as `\uXXXX`. The original
 * Lighthouse wrote znodes this way and fleets mix both implementations, so the
 * bytes must match.
 */
export function pythonJsonDumps(value: MetadataValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  switch (typeof value) {
    case 'string':
      return asciiOnly(JSON.stringify(value));
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot serialize ${value} as JSON`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default: {
      const keys = Object.keys(value).sort(compareCodePoints);
      return `{${keys.map((key) => `${asciiOnly(JSON.stringify(key))}: ${pythonJsonDumps(value[key] as MetadataValue)}`).join(', ')}}`;
    }
  }
}

function asciiOnly(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Python sorts str keys by code point; JS's default sort compares UTF-16 units. */
function compareCodePoints(a: string, b: string): number {
  const left = [...a];
  const right = [...b];
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    const diff = (left[i]!.codePointAt(0) ?? 0) - (right[i]!.codePointAt(0) ?? 0);
    if (diff !== 0) return diff;
  }
  return left.length - right.length;
}
