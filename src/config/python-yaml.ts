import { isMap, parseDocument, type ScalarTag, type Tags } from 'yaml';
import { PythonNumber } from '../discovery/python-json.js';
import type { Metadata, MetadataValue } from '../discovery/node.js';
import { fail, ok, type Result } from '../lib/result.js';

/**
 * Service metadata as the original Lighthouse read it: PyYAML's `safe_load`
 * (YAML 1.1), so `yes` is true and `1.0` is a float, and a reporter writes
 * the bytes the original wrote (see python-json.ts for the number forms).
 *
 * The structure (maps, lists, anchors, `<<` merge keys, `!!binary`,
 * `!!set`, timestamps) comes from the `yaml` package's own YAML 1.1 schema.
 * Its bool/int/float resolvers follow the YAML 1.1 type specs
 * (yaml.org/type/bool.html etc.), which PyYAML does not quite: PyYAML's
 * resolver (lib/yaml/resolver.py, `Resolver.add_implicit_resolver`) takes
 * no `y`/`n` as booleans, no float without a `.` (`1e+20` stays a string),
 * no float exponent without a sign (`1.0e20` stays a string), no decimal int
 * with a leading 0 that is not octal (`09` stays a string) and no
 * sexagesimal int starting with 0. Those three resolvers are replaced by
 * PyYAML's regular expressions, copied from that file, and its constructor's
 * rules (lib/yaml/constructor.py, `construct_yaml_int`/`construct_yaml_float`:
 * `_` removed, `0b`/`0x`/leading-0 octal, `a:b:c` base 60).
 */

const PY_TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const PY_FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;
const PY_INT = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const PY_FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

/** Python's int, exact (PythonNumber beyond 2^53). */
function constructInt(text: string): bigint {
  let value = text.replace(/_/g, '');
  let sign = 1n;
  if (value.startsWith('-') || value.startsWith('+')) {
    if (value.startsWith('-')) sign = -1n;
    value = value.slice(1);
  }
  if (value === '0') return 0n;
  if (value.startsWith('0b')) return sign * BigInt(value);
  if (value.startsWith('0x')) return sign * BigInt(value);
  if (value.startsWith('0')) return sign * BigInt(`0o${value.slice(1)}`);
  if (value.includes(':')) return sign * value.split(':').reduce((total, part) => total * 60n + BigInt(part), 0n);
  return sign * BigInt(value);
}

/** Python's float of the text; not finite for `.inf`/`.nan`. */
function constructFloat(text: string): number {
  let value = text.replace(/_/g, '').toLowerCase();
  let sign = 1;
  if (value.startsWith('-') || value.startsWith('+')) {
    if (value.startsWith('-')) sign = -1;
    value = value.slice(1);
  }
  if (value === '.inf') return sign * Infinity;
  if (value === '.nan') return NaN;
  if (value.includes(':')) return sign * value.split(':').reduce((total, part) => total * 60 + Number(part), 0);
  return sign * Number(value);
}

/** Stands for `.inf`/`.nan`, which Python writes as `Infinity`/`NaN`: not JSON, so every reader would reject the node. */
class NotJsonFloat {
  constructor(readonly text: string) {}
}

const pythonScalars: ScalarTag[] = [
  { tag: 'tag:yaml.org,2002:bool', default: true, test: PY_TRUE, identify: (value) => value === true, resolve: () => true },
  { tag: 'tag:yaml.org,2002:bool', default: true, test: PY_FALSE, identify: (value) => value === false, resolve: () => false },
  { tag: 'tag:yaml.org,2002:int', default: true, test: PY_INT, identify: (value) => typeof value === 'bigint', resolve: (text) => PythonNumber.int(constructInt(text)) },
  {
    tag: 'tag:yaml.org,2002:float',
    default: true,
    test: PY_FLOAT,
    identify: (value) => value instanceof PythonNumber,
    resolve: (text) => PythonNumber.float(constructFloat(text)) ?? new NotJsonFloat(text),
  },
];

/**
 * `!!int` / `!!float` written out: PyYAML runs the same constructor on any
 * text (`!!float 1` is 1.0, `!!int 0o17` is 15: Python's int(text, 8) takes
 * the 0o prefix), and fails on text its int()/float() cannot read. Without
 * these, the `yaml` package fell back to a string (`"1"`) with only a warning.
 * Not default: implicit resolution stays with the regular expressions above.
 */
const PY_EXPLICIT_INT = /^[-+]?(?:0b[01]+|0x[0-9a-fA-F]+|0o?[0-7]+|[0-9]+(?::[0-9]+)*)$/;
const PY_EXPLICIT_FLOAT = /^[-+]?(?:\.(?:inf|nan)|[0-9]+(?::[0-9]+)*(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?|\.[0-9]+(?:e[-+]?[0-9]+)?|inf|infinity|nan)$/;

const explicitScalars: ScalarTag[] = [
  {
    tag: 'tag:yaml.org,2002:int',
    default: false,
    resolve: (text, onError) => {
      const value = text.replace(/_/g, '').trim();
      if (!PY_EXPLICIT_INT.test(value)) {
        onError(`!!int ${JSON.stringify(text)} is not an int`);
        return text;
      }
      return PythonNumber.int(constructInt(value.replace(/^([-+]?0)o/, '$1')));
    },
  },
  {
    tag: 'tag:yaml.org,2002:float',
    default: false,
    resolve: (text, onError) => {
      const value = text.replace(/_/g, '').trim().toLowerCase();
      if (!PY_EXPLICIT_FLOAT.test(value)) {
        onError(`!!float ${JSON.stringify(text)} is not a float`);
        return text;
      }
      const number = /^[-+]?(?:inf|infinity|nan)$/.test(value) ? Number(value.replace(/inf(?:inity)?/, 'Infinity').replace('nan', 'NaN')) : constructFloat(value);
      return PythonNumber.float(number) ?? new NotJsonFloat(text);
    },
  },
];

const REPLACED = new Set(['tag:yaml.org,2002:bool', 'tag:yaml.org,2002:int', 'tag:yaml.org,2002:float']);

function pyyamlTags(tags: Tags): Tags {
  return [...pythonScalars, ...explicitScalars, ...tags.filter((tag) => typeof tag === 'string' || !REPLACED.has(tag.tag))];
}

export interface MetadataProblem {
  /** setting path inside the file, starting with `metadata` */
  path: (string | number)[];
  message: string;
}

/**
 * The `metadata:` mapping of a service file read as PyYAML reads it, or
 * the values the original could not have written as JSON (it failed on
 * them): timestamps, binary, sets, `.inf`/`.nan`, and keys that are not
 * strings (json.dumps would turn `yes:` into `"true"`, and Python 3 cannot
 * sort keys of mixed types).
 */
export function readPythonMetadata(text: string): Result<Metadata, MetadataProblem[]> {
  const doc = parseDocument(text, { version: '1.1', customTags: pyyamlTags, uniqueKeys: true });
  if (doc.errors.length > 0) return fail(doc.errors.map((error) => ({ path: ['metadata'], message: `invalid YAML 1.1: ${error.message.split('\n')[0]}` })));
  if (!isMap(doc.contents) || !doc.contents.has('metadata')) return ok({});
  let raw: unknown;
  try {
    // Aliases are resolved here: an unknown anchor or an alias bomb throws.
    raw = (doc.toJS({ mapAsMap: true, maxAliasCount: 100 }) as Map<unknown, unknown>).get('metadata');
  } catch (error) {
    return fail([{ path: ['metadata'], message: `invalid YAML 1.1: ${(error as Error).message}` }]);
  }
  if (raw === null || raw === undefined) return ok({});
  const problems: MetadataProblem[] = [];
  const value = convert(raw, ['metadata'], problems, new Set());
  if (problems.length > 0) return fail(problems);
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof PythonNumber) {
    return fail([{ path: ['metadata'], message: 'must be a mapping' }]);
  }
  return ok(value);
}

/**
 * `ancestors`: the collections being converted around `value`. An alias to
 * one of them (`tags: &t [web, *t]`) makes the resolved value contain
 * itself; following it overflowed the stack (check-config printed a trace,
 * the reporter could not start). PyYAML loads it, and json.dumps refuses it.
 */
function convert(value: unknown, path: (string | number)[], problems: MetadataProblem[], ancestors: Set<unknown>): MetadataValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number' || value instanceof PythonNumber) return value;
  if ((Array.isArray(value) || value instanceof Map) && ancestors.has(value)) {
    problems.push({ path, message: 'refers to itself (an alias to an anchor that contains it): it cannot be written as JSON (the original failed on it too)' });
    return null;
  }
  if (Array.isArray(value)) {
    ancestors.add(value);
    const out = value.map((item, index) => convert(item, [...path, index], problems, ancestors));
    ancestors.delete(value);
    return out;
  }
  if (value instanceof Map) {
    ancestors.add(value);
    const out: Record<string, MetadataValue> = {};
    for (const [key, item] of value) {
      if (typeof key !== 'string') {
        problems.push({ path: [...path, String(key)], message: `key ${describeKey(key)} is not a string in YAML 1.1 (the original's json.dumps would rewrite or refuse it): quote it` });
        continue;
      }
      out[key] = convert(item, [...path, key], problems, ancestors);
    }
    ancestors.delete(value);
    return out;
  }
  problems.push({ path, message: `${unsupported(value)} cannot be written as JSON (the original failed on it too): quote it to make it a string` });
  return null;
}

function describeKey(key: unknown): string {
  if (key instanceof PythonNumber) return key.json;
  if (key === null) return 'null (~)';
  return typeof key === 'object' ? 'a collection' : String(key);
}

function unsupported(value: unknown): string {
  if (value instanceof NotJsonFloat) return `${value.text} (Python writes it as Infinity/NaN, which is not JSON)`;
  if (value instanceof Date) return 'a YAML 1.1 timestamp';
  if (value instanceof Uint8Array) return 'a !!binary value';
  if (value instanceof Set) return 'a !!set';
  return 'this value';
}
