/**
 * What pythonJsonDumps writes: JSON values plus PythonNumber. Node metadata
 * (MetadataValue in node.ts) has this shape; it is spelled out here so this
 * module does not import node.ts, which imports PythonNumber from here.
 */
export type PythonJsonValue = string | number | boolean | null | PythonNumber | PythonJsonValue[] | { [key: string]: PythonJsonValue };

/**
 * A number whose Python JSON text JavaScript cannot derive from its value:
 * a Python float (`1.0`, `1e+20`: JavaScript has one number type, so
 * `1.0` and `1` are the same value) or an int beyond 2^53 (exact digits).
 * Config metadata read with YAML 1.1 rules carries these, so a reporter
 * writes the bytes the original wrote. Everywhere else it acts as its
 * number (`valueOf`, `toJSON`).
 */
export class PythonNumber {
  private constructor(
    /** the exact text Python's json.dumps writes */
    readonly json: string,
    readonly value: number,
  ) {}

  /** A Python float. Not finite: undefined (Python would write `Infinity`/`NaN`, which JSON readers reject). */
  static float(value: number): PythonNumber | undefined {
    return Number.isFinite(value) ? new PythonNumber(pythonFloatRepr(value), value) : undefined;
  }

  /** A Python int: a plain number when it is exact as one, else its digits. */
  static int(value: bigint): PythonNumber | number {
    const number = Number(value);
    return Number.isSafeInteger(number) ? number : new PythonNumber(value.toString(), number);
  }

  valueOf(): number {
    return this.value;
  }

  toJSON(): number {
    return this.value;
  }

  toString(): string {
    return this.json;
  }
}

/**
 * Python's `repr(float)`, which `json.dumps` uses for floats
 * (json.encoder: `floatstr` calls `float.__repr__`). Since Python 3.1 / 2.7
 * repr gives the shortest digit string that round-trips ("What's New in
 * Python 3.1": float repr; `float_repr_style` 'short'); ECMAScript's
 * Number::toString picks the same digits (ECMA-262 6.1.6.1.20: smallest k,
 * closest to the value), and `toExponential()` without an argument exposes
 * them with the decimal exponent. Layout per `format(x, 'r')` in
 * Python/pystrtod.c: exponent form when the exponent is < -4 or >= 16
 * (`1e-05`, `1e+16`), written with a sign and at least two digits; otherwise
 * positional, with `.0` added to an integral value (`1.0`, `-0.0`).
 */
export function pythonFloatRepr(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError(`cannot serialize ${value} as JSON`);
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace(/^-/, '').replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${body}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction || '0'}`;
}

/**
 * A plain number as Python writes it: integral values as ints (a decoded
 * `1e20` is the int 100000000000000000000 to Python too), others as floats
 * (`0.00001` is `1e-05`).
 */
function pythonNumberText(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError(`cannot serialize ${value} as JSON`);
  if (Number.isInteger(value)) return Number.isSafeInteger(value) ? String(value === 0 ? 0 : value) : BigInt(value).toString();
  return pythonFloatRepr(value);
}

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
export function pythonJsonDumps(value: PythonJsonValue): string {
  if (value === null) return 'null';
  if (value instanceof PythonNumber) return value.json;
  if (Array.isArray(value)) {
    let out = '[';
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) out += ', ';
      out += pythonJsonDumps(value[index] as PythonJsonValue);
    }
    return `${out}]`;
  }
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return pythonNumberText(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default: {
      const keys = Object.keys(value);
      if (keys.length > 1) keys.sort(compareCodePoints);
      let out = '{';
      for (let index = 0; index < keys.length; index += 1) {
        const key = keys[index]!;
        if (index > 0) out += ', ';
        out += `${quote(key)}: ${pythonJsonDumps(value[key] as PythonJsonValue)}`;
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
