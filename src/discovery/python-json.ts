import type { MetadataValue } from './node.js';

/**
 * Serializes like Python's `json.dumps(value, sort_keys=True)`: `", "` and
 * `": "` separators, keys sorted, non-ASCII escaped as `\uXXXX`. The original
 * Lighthouse wrote znodes this way and fleets mix both implementations, so the
 * bytes must match.
 *
 * The writer encodes every node it reads (10,000 at the start of a large
 * fleet), so this avoids per-call garbage: strings are built by appending,
 * and keys are compared without splitting them into arrays of characters.
 */
export function pythonJsonDumps(value: MetadataValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) out += ', ';
      out += pythonJsonDumps(value[index] as MetadataValue);
    }
    return `${out}]`;
  }
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot serialize ${value} as JSON`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default: {
      const keys = Object.keys(value);
      if (keys.length > 1) keys.sort(compareCodePoints);
      let out = '{';
      for (let index = 0; index < keys.length; index += 1) {
        const key = keys[index]!;
        if (index > 0) out += ', ';
        out += `${quote(key)}: ${pythonJsonDumps(value[key] as MetadataValue)}`;
      }
      return `${out}}`;
    }
  }
}

const NON_ASCII = /[\u007f-\uffff]/;

function quote(text: string): string {
  const json = JSON.stringify(text);
  return NON_ASCII.test(json) ? json.replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

/** Is this UTF-16 code unit half of a surrogate pair (or a lone surrogate)? */
const isSurrogate = (unit: number): boolean => unit >= 0xd800 && unit <= 0xdfff;

/**
 * Python sorts str keys by code point; JS's default sort compares UTF-16
 * units. The two orders agree unless the first differing unit is a
 * surrogate, so only that case takes the exact (allocating) comparison.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) {
    const left = a.charCodeAt(i);
    const right = b.charCodeAt(i);
    if (left === right) continue;
    if (!isSurrogate(left) && !isSurrogate(right)) return left - right;
    return compareByCodePointArrays(a, b);
  }
  return a.length - b.length;
}

function compareByCodePointArrays(a: string, b: string): number {
  const left = [...a];
  const right = [...b];
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    const diff = (left[i]!.codePointAt(0) ?? 0) - (right[i]!.codePointAt(0) ?? 0);
    if (diff !== 0) return diff;
  }
  return left.length - right.length;
}
