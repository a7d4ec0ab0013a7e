import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes } from '../../src/lib/errors.js';

const root = new URL('../../', import.meta.url).pathname;
const documented = [...readFileSync(join(root, 'docs/errors.md'), 'utf8').matchAll(/^## (LH_[A-Z_]+)$/gm)].map((match) => match[1]);
const defined = Object.keys(ErrorCodes);

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(folder, name));
}

test('every defined error code has a section in docs/errors.md', () => {
  assert.deepEqual(defined.filter((code) => !documented.includes(code)), []);
});

test('docs/errors.md documents no code that is not defined, and none twice', () => {
  assert.deepEqual(documented.filter((code) => !defined.includes(code)), []);
  assert.equal(new Set(documented).size, documented.length);
});

test('the source uses no LH_ code that is not defined', () => {
  const used = new Set<string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/'(LH_[A-Z_]+)'/g)) used.add(match[1]);
  }
  assert.ok(used.size > 0, 'no code found in src: the pattern no longer matches how codes are written');
  assert.deepEqual([...used].filter((code) => !defined.includes(code)), []);
});

test('every defined code is used in src/ outside src/lib/errors.ts', () => {
  const used = new Set<string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    if (file.endsWith(join('lib', 'errors.ts'))) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(/'(LH_[A-Z_]+)'/g)) used.add(match[1]);
  }
  // A code nothing raises or logs is documentation of a behaviour that does not exist.
  assert.deepEqual(defined.filter((code) => !used.has(code)), []);
});
