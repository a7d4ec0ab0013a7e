import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { MemberSetBuilder, type DecodedChild } from '../../src/discovery/member-set-builder.js';
import type { MemberSet } from '../../src/discovery/types.js';
import type { ClusterNode } from '../../src/discovery/node.js';

const node = (host: string, port: number): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata: {}, peer: null });
const child = (name: string, version: number, value: ClusterNode | string): DecodedChild => ({
  name,
  path: `/lh/web/${name}`,
  version: BigInt(version),
  node: typeof value === 'string' ? { ok: false, error: value } : { ok: true, value },
});

function setup() {
  const sets: MemberSet[] = [];
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  return { builder: new MemberSetBuilder('web', logger, (set) => sets.push(set)), sets, warnings };
}

test('two children naming one host:port: the one whose name matches is the member', () => {
  const { builder: reporter, sets } = setup();
  reporter.report([child('zz-copy', 1, node('a', 80)), child('a:80', 1, node('a', 80))]);
  assert.deepEqual(sets[0]?.members.map((member) => member.host), ['a']);
  assert.equal(sets[0]?.rejected.length, 1);
  assert.match(sets[0]!.rejected[0]!.reason, /already provides/);
  assert.equal(sets[0]!.rejected[0]!.znode, '/lh/web/zz-copy');
});

test('a malformed child is rejected and logged once per version; the rest still reported', () => {
  const { builder: reporter, sets, warnings } = setup();
  reporter.report([child('a:80', 1, node('a', 80)), child('bad', 1, 'not JSON')]);
  reporter.report([child('a:80', 1, node('a', 80)), child('bad', 1, 'not JSON'), child('b:80', 1, node('b', 80))]);
  assert.equal(warnings.length, 1, 'same version: logged once');
  reporter.report([child('a:80', 1, node('a', 80)), child('bad', 2, 'not JSON'), child('b:80', 1, node('b', 80))]);
  assert.equal(warnings.length, 2, 'new version: logged again');
  assert.deepEqual(sets.at(-1)?.members.map((member) => member.host), ['a', 'b']);
});

test('an unchanged set is not reported again', () => {
  const { builder: reporter, sets } = setup();
  reporter.report([child('a:80', 1, node('a', 80))]);
  reporter.report([child('a:80', 2, node('a', 80))]);
  assert.equal(sets.length, 1);
  reporter.report([]);
  assert.deepEqual(sets.at(-1)?.members, []);
});

test('a child rejected, then fine, then rejected again with the same version is logged again', () => {
  const { builder: reporter, warnings } = setup();
  reporter.report([child('bad', 1, 'not JSON')]);
  reporter.report([child('bad', 2, node('bad', 1))]);
  reporter.report([child('bad', 1, 'not JSON')]);
  assert.equal(warnings.length, 2);
});

test('a change in the rejections alone is reported, and members come out in name order whatever the input order', () => {
  const { builder: reporter, sets } = setup();
  reporter.report([child('b:80', 1, node('b', 80)), child('a:80', 1, node('a', 80))]);
  reporter.report([child('b:80', 1, node('b', 80)), child('bad', 1, 'not JSON'), child('a:80', 1, node('a', 80))]);
  assert.equal(sets.length, 2);
  assert.deepEqual(sets[0]?.members.map((member) => member.host), ['a', 'b']);
  assert.deepEqual(sets[1]?.rejected.map((entry) => entry.znode), ['/lh/web/bad']);
  reporter.report([child('a:80', 1, node('a', 80)), child('b:80', 1, node('b', 80))]);
  assert.equal(sets.length, 3, 'the rejection went away');
  assert.deepEqual(sets[2]?.rejected, []);
});

test('a new version of the same members is reported (writers acknowledge it); the same version again is not', () => {
  const { builder: reporter, sets } = setup();
  reporter.report([child('a:80', 1, node('a', 80))], 10n);
  reporter.report([child('a:80', 1, node('a', 80))], 10n);
  reporter.report([child('a:80', 2, node('a', 80))], 12n);
  assert.deepEqual(sets.map((set) => set.version), ['10', '12']);
  assert.deepEqual(sets[1]!.members.map((member) => member.host), ['a']);
});

test('children named for what they hold (nameIsKey) give the same sets as the full pass, and a rejection after such a set is logged anew', () => {
  const named = (name: string, version: number, value: ClusterNode): DecodedChild => ({ ...child(name, version, value), nameIsKey: true });
  const plain = setup();
  const full = setup();
  const rounds: [DecodedChild[], DecodedChild[]][] = [
    [[named('a:80', 1, node('a', 80)), named('b:80', 1, node('b', 80))], [child('a:80', 1, node('a', 80)), child('b:80', 1, node('b', 80))]],
    [[named('b:80', 1, node('b', 80)), named('a:80', 1, node('a', 80))], [child('b:80', 1, node('b', 80)), child('a:80', 1, node('a', 80))]],
    [[named('a:80', 2, node('a', 80))], [child('a:80', 2, node('a', 80))]],
  ];
  rounds.forEach(([withFlag, without], index) => {
    plain.builder.report(withFlag, BigInt(index));
    full.builder.report(without, BigInt(index));
  });
  assert.deepEqual(plain.sets, full.sets);
  assert.equal(plain.sets.length, 3);

  // One child not named for its data (a copy of a): the full pass, with its rejection logged, again after a plain set.
  const copy = (): DecodedChild[] => [named('a:80', 2, node('a', 80)), { ...child('zz-copy', 1, node('a', 80)), nameIsKey: false }];
  plain.builder.report(copy());
  assert.equal(plain.sets.at(-1)?.rejected.length, 1);
  plain.builder.report([named('a:80', 2, node('a', 80))]);
  plain.builder.report(copy());
  assert.equal(plain.warnings.length, 2, 'logged again once it came back');
});
