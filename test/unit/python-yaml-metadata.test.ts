import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readPythonMetadata } from '../../src/config/python-yaml.js';
import { pythonJsonDumps } from '../../src/discovery/python-json.js';

/**
 * What the original reporter wrote for a metadata value: PyYAML `safe_load`
 * (YAML 1.1; lib/yaml/resolver.py and constructor.py) then Python's
 * `json.dumps(metadata, sort_keys=True)` (floats via `float.__repr__`:
 * shortest round-trip digits, exponent form below 1e-4 and from 1e16 on,
 * `.0` on integral floats; ints exact; `ensure_ascii` escapes). Each row is
 * the YAML text of one value and the exact JSON text of it, derived from
 * those rules (and cross-checked against PyYAML 6.0.3 + CPython 3.11).
 */
const VALUES: readonly (readonly [yaml: string, json: string, why: string])[] = [
  // floats: integral
  ['1.0', '1.0', 'an integral float keeps ".0"'],
  ['-1.0', '-1.0', 'negative integral float'],
  ['1.', '1.0', 'a trailing dot is a float'],
  ['0.0', '0.0', 'zero float'],
  ['-0.0', '-0.0', 'negative zero keeps its sign'],
  ['1000000000000000.0', '1000000000000000.0', 'exponent 15: still positional'],
  // floats: exponent forms
  ['1.0e+20', '1e+20', 'exponent >= 16: exponent form, no ".0" on a one-digit mantissa'],
  ['10000000000000000.0', '1e+16', 'exponent 16 is the first exponent form'],
  ['1.5e+300', '1.5e+300', 'large exponent'],
  ['6.02e+23', '6.02e+23', 'mantissa digits kept'],
  ['12345678901234567890.0', '1.2345678901234567e+19', 'shortest round-trip digits'],
  ['1e+20', '"1e+20"', 'PyYAML floats need a "." (this is a string)'],
  ['1.0e20', '"1.0e20"', 'PyYAML exponents need a sign (this is a string)'],
  // floats: small
  ['0.00001', '1e-05', 'exponent < -4: exponent form with two exponent digits'],
  ['0.0001', '0.0001', 'exponent -4: positional'],
  ['1.0e-7', '1e-07', 'small exponent form'],
  ['.5', '0.5', 'a leading dot is a float'],
  ['0.333333333333333333', '0.3333333333333333', 'rounded to the nearest double, shortest digits'],
  ['1_000.5', '1000.5', 'underscores are dropped'],
  ['1:30.5', '90.5', 'base-60 float'],
  // ints
  ['42', '42', 'int'],
  ['12345678901234567890', '12345678901234567890', 'an int beyond 2^53 stays exact'],
  ['-98765432109876543210', '-98765432109876543210', 'negative big int'],
  ['1_000', '1000', 'underscores are dropped'],
  ['017', '15', 'a leading 0 is octal in YAML 1.1'],
  ['0o17', '"0o17"', 'YAML 1.2 octal is a string to PyYAML'],
  ['0x1F', '31', 'hex'],
  ['0b101', '5', 'binary'],
  ['09', '"09"', 'not octal, not decimal: a string'],
  ['1:30', '90', 'base-60 int'],
  ['-0', '0', 'an int has no negative zero'],
  // YAML 1.1 booleans
  ['yes', 'true', 'yes'],
  ['no', 'false', 'no'],
  ['on', 'true', 'on'],
  ['off', 'false', 'off'],
  ['True', 'true', 'capitalised'],
  ['OFF', 'false', 'upper case'],
  ['y', '"y"', 'PyYAML does not read y as a boolean'],
  ['n', '"n"', 'PyYAML does not read n as a boolean'],
  ['"yes"', '"yes"', 'quoted: a string'],
  // nulls
  ['~', 'null', 'tilde'],
  ['null', 'null', 'null'],
  ['NULL', 'null', 'upper case null'],
  ['', 'null', 'empty value'],
  // strings and non-ASCII
  ['café', '"caf\\u00e9"', 'non-ASCII escaped (ensure_ascii)'],
  ['東京', '"\\u6771\\u4eac"', 'CJK escaped'],
  ['"😀"', '"\\ud83d\\ude00"', 'astral characters as a surrogate pair'],
  ['"tab\\there"', '"tab\\there"', 'control characters escaped'],
  ['1.2.3', '"1.2.3"', 'a version string stays a string'],
  ['2001-12-14x', '"2001-12-14x"', 'not a timestamp'],
  // explicit tags: PyYAML's constructor on any text
  ['!!float 1', '1.0', 'an explicit float of an int text is a float'],
  ['!!float "12"', '12.0', 'explicit float of a quoted text'],
  ['!!float 1e3', '1000.0', 'an exponent without a sign, explicit'],
  ['!!int "12"', '12', 'explicit int of a quoted text'],
  ['!!int 0o17', '15', "Python's int(text, 8) takes the 0o prefix"],
  ['!!str 12', '"12"', 'explicit string'],
  // nesting
  ['[1, 2.0, yes, ~]', '[1, 2.0, true, null]', 'a list'],
  ['{b: [1.5, {d: off}], a: 0.1}', '{"a": 0.1, "b": [1.5, {"d": false}]}', 'nested map, keys sorted'],
];

function dump(yamlValue: string): string {
  const result = readPythonMetadata(`port: 80\nmetadata:\n  v: ${yamlValue}\n`);
  assert.ok(result.ok, `${yamlValue}: ${JSON.stringify(!result.ok && result.error)}`);
  return pythonJsonDumps(result.value);
}

test('metadata values: PyYAML + json.dumps(sort_keys=True) bytes', () => {
  const wrong: string[] = [];
  for (const [yaml, json, why] of VALUES) {
    const got = dump(yaml);
    if (got !== `{"v": ${json}}`) wrong.push(`${yaml} (${why}): got ${got}, want {"v": ${json}}`);
  }
  assert.deepEqual(wrong, []);
});

test('a whole metadata block: block style, sorted keys, anchors and merge keys', () => {
  const text = [
    'port: 8000',
    'metadata:',
    '  zone: eu-1',
    '  weight: 1.0',
    '  big: 1.0e+20',
    '  tiny: 0.00001',
    '  enabled: yes',
    '  base: &base {tier: 2, ratio: 0.5}',
    '  derived:',
    '    <<: *base',
    '    ratio: 0.25',
    '  tags:',
    '    - web',
    '    - ~',
    '  "Ä": ü',
  ].join('\n');
  const result = readPythonMetadata(text);
  assert.ok(result.ok);
  assert.equal(
    pythonJsonDumps(result.value),
    String.raw`{"base": {"ratio": 0.5, "tier": 2}, "big": 1e+20, "derived": {"ratio": 0.25, "tier": 2}, "enabled": true, "tags": ["web", null], "tiny": 1e-05, "weight": 1.0, "zone": "eu-1", "\u00c4": "\u00fc"}`,
  );
});

test('no metadata, or an empty one, is {}', () => {
  for (const text of ['port: 80\n', 'port: 80\nmetadata:\n', 'port: 80\nmetadata: {}\n']) {
    const result = readPythonMetadata(text);
    assert.ok(result.ok);
    assert.equal(pythonJsonDumps(result.value), '{}');
  }
});

test('values the original could not write as JSON are refused with their setting', () => {
  const cases: [string, string, RegExp][] = [
    ['when: 2001-12-14', 'metadata.when', /timestamp/],
    ['limit: .inf', 'metadata.limit', /Infinity/],
    ['ratio: .nan', 'metadata.ratio', /not JSON/],
    ['yes: 1', 'metadata.true', /key true is not a string/],
    ['1.5: x', 'metadata.1.5', /key 1\.5 is not a string/],
    ['blob: !!binary aGVsbG8=', 'metadata.blob', /binary/],
    ['limit: !!float .inf', 'metadata.limit', /Infinity/],
    ['count: !!int 1.5', 'metadata', /!!int "1\.5" is not an int/],
    ['ratio: !!float abc', 'metadata', /!!float "abc" is not a float/],
  ];
  for (const [line, setting, message] of cases) {
    const result = readPythonMetadata(`metadata:\n  ${line}\n`);
    assert.ok(!result.ok, line);
    assert.equal(result.error[0]!.path.join('.'), setting, line);
    assert.match(result.error[0]!.message, message, line);
  }
});

test('a service file: the node a reporter registers carries the original bytes', async () => {
  const { parseConfigFile } = await import('../../src/config/parse.js');
  const { encodeNode } = await import('../../src/discovery/codec.js');
  const { testRegistries } = await import('../support/test-registries.js');
  const text = 'port: 8000\ndiscovery: zookeeper\nmetadata:\n  ratio: 1.0\n  big: 1.0e+20\n  tiny: 0.00001\n  enabled: yes\n  id: 12345678901234567890\nchecks:\n  interval: 2\n  http:\n    rise: 1\n    fall: 1\n    uri: /health\n';
  const result = parseConfigFile('service', '/etc/lh/services/web.yaml', text, 'web', testRegistries());
  assert.ok(result.ok && result.value.kind === 'service', JSON.stringify(!result.ok && result.error));
  const node = { host: 'web1', ip: '10.0.0.5', port: 8000, metadata: result.value.metadata, peer: null };
  assert.equal(
    encodeNode(node),
    String.raw`{"host": "web1", "ip": "10.0.0.5", "metadata": "{\"big\": 1e+20, \"enabled\": true, \"id\": 12345678901234567890, \"ratio\": 1.0, \"tiny\": 1e-05}", "peer": null, "port": 8000}`,
  );
});

test('an unresolved alias or an alias bomb is a problem, not an exception', () => {
  const bomb = ['metadata:', '  a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `  ${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
  for (const text of ['metadata:\n  a: [*nowhere]\n', bomb]) {
    const result = readPythonMetadata(text);
    assert.ok(!result.ok, text.slice(0, 40));
    assert.equal(result.error[0]!.path.join('.'), 'metadata');
  }
});

test('an anchor used inside itself is a problem naming the setting, not a stack overflow', () => {
  for (const [text, setting] of [
    ['metadata:\n  tags: &t [web, *t]\n', 'metadata.tags.1'],
    ['metadata:\n  m: &m\n    self: *m\n', 'metadata.m.self'],
    ['metadata: &root\n  again: *root\n', 'metadata.again'],
  ] as const) {
    const result = readPythonMetadata(text);
    assert.ok(!result.ok, text);
    assert.equal(result.error[0]!.path.join('.'), setting, text);
    assert.match(result.error[0]!.message, /refers to itself/);
  }
  // The same anchor used twice side by side is no cycle.
  const shared = readPythonMetadata('metadata:\n  a: &a {x: 1}\n  b: [*a, *a]\n');
  assert.ok(shared.ok);
  assert.equal(pythonJsonDumps(shared.value), '{"a": {"x": 1}, "b": [{"x": 1}, {"x": 1}]}');
});
