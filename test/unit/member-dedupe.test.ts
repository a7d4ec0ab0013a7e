import { test } from 'node:test';
import assert from 'node:assert/strict';
import { membersByKey } from '../../src/discovery/member-dedupe.js';

interface Entry {
  name: string;
  key: string | undefined;
}
const entry = (name: string, key: string | undefined): Entry => ({ name, key });

test('the entry named for its host:port wins over one that came first', () => {
  const owner = membersByKey([entry('copy', 'a:80'), entry('a:80', 'a:80')], (e) => e.key, (e) => e.name);
  assert.equal(owner.get('a:80')?.name, 'a:80');
});

test('without a name match the first entry wins, and a later name match still takes over', () => {
  const entries = [entry('x1', 'a:80'), entry('x2', 'a:80'), entry('a:80', 'a:80'), entry('y', 'a:80')];
  assert.equal(membersByKey(entries.slice(0, 2), (e) => e.key, (e) => e.name).get('a:80')?.name, 'x1');
  assert.equal(membersByKey(entries, (e) => e.key, (e) => e.name).get('a:80')?.name, 'a:80');
});

test('without names the first entry wins; entries without a key are left out; order of first appearance', () => {
  const owner = membersByKey([entry('1', 'b:80'), entry('2', undefined), entry('3', 'a:80'), entry('4', 'b:80')], (e) => e.key);
  assert.deepEqual([...owner.entries()].map(([key, e]) => [key, e.name]), [
    ['b:80', '1'],
    ['a:80', '3'],
  ]);
});
