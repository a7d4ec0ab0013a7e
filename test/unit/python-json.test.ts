import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCodePoints, pythonJsonDumps } from '../../src/discovery/python-json.js';

/** The definition: compare the strings' code points one by one (lone surrogates count as themselves). */
function byCodePoints(a: string, b: string): number {
  const left = [...a].map((char) => char.codePointAt(0)!);
  const right = [...b].map((char) => char.codePointAt(0)!);
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) if (left[i] !== right[i]) return left[i]! - right[i]!;
  return left.length - right.length;
}

test('compareCodePoints orders like the code points, surrogates included', () => {
  // Units chosen around the places where UTF-16 and code point order differ.
  const units = ['a', 'b', '\u007f', '\u00e9', '\ud7ff', '\ud83d', '\ude00', '\udbff', '\udfff', '\ue000', '\uffff'];
  const strings = new Set<string>(['']);
  for (const x of units) {
    strings.add(x);
    for (const y of units) {
      strings.add(x + y);
      strings.add(`k${x}${y}`);
    }
  }
  strings.add('\ud83d\ude00'); // a real pair
  strings.add('\ud83d\ude00a');
  const all = [...strings];
  for (const a of all) for (const b of all) assert.equal(Math.sign(compareCodePoints(a, b)), Math.sign(byCodePoints(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
});

test('pythonJsonDumps: nested values, separators and escapes as Python writes them', () => {
  const value = { z: [1, 'two', null, true, { b: 1.5, a: -2 }], '\ue000': 'x', '\ud83d\ude00': 'y', é: 'ü' };
  assert.equal(pythonJsonDumps(value), String.raw`{"z": [1, "two", null, true, {"a": -2, "b": 1.5}], "\u00e9": "\u00fc", "\ue000": "x", "\ud83d\ude00": "y"}`);
  assert.equal(pythonJsonDumps([]), '[]');
  assert.equal(pythonJsonDumps({}), '{}');
});
