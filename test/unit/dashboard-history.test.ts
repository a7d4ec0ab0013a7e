import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterHistories, HistoryRing, downsample, type HistorySample } from '../../src/cli/dashboard-history.js';

const sample = (at: number, members = 1, requests = 0): HistorySample => ({ at, members, held: 0, up: members, requests });

test('history ring: bounded, oldest overwritten, read oldest first', () => {
  const ring = new HistoryRing(3);
  assert.deepEqual(ring.samples(), []);
  for (let at = 1; at <= 5; at += 1) ring.push(sample(at, at));
  assert.equal(ring.length, 3);
  assert.deepEqual(
    ring.samples().map((s) => s.at),
    [3, 4, 5],
  );
  assert.deepEqual(
    ring.samples().map((s) => s.members),
    [3, 4, 5],
  );
  assert.deepEqual(
    ring.samples(4).map((s) => s.at),
    [4, 5],
    'only the samples since the given time',
  );
});

test('history ring: a capacity of one keeps the newest; zero is refused', () => {
  const ring = new HistoryRing(1);
  ring.push(sample(1));
  ring.push(sample(2));
  assert.deepEqual(
    ring.samples().map((s) => s.at),
    [2],
  );
  assert.throws(() => new HistoryRing(0), RangeError);
});

test('cluster histories: sessions per interval; the first look is a baseline, new and re-added servers count from 0', () => {
  const histories = new ClusterHistories(10);
  histories.record('web', 1_000, { members: 2, held: 0, up: 2, totals: new Map([['a:1', 500], ['b:1', 70]]) });
  histories.record('web', 2_000, { members: 3, held: 0, up: 3, totals: new Map([['a:1', 510], ['b:1', 75], ['c:1', 4]]) });
  // b re-added: its counter started again below its old total
  histories.record('web', 3_000, { members: 3, held: 1, up: 2, totals: new Map([['a:1', 511], ['b:1', 2], ['c:1', 4]]) });
  const points = histories.points('web', 0, 100);
  assert.deepEqual(
    points.map((p) => p.requests),
    [0, 10 + 5 + 4, 1 + 2 + 0],
  );
  assert.deepEqual(
    points.map((p) => [p.members, p.held, p.up]),
    [
      [2, 0, 2],
      [3, 0, 3],
      [3, 1, 2],
    ],
  );
  assert.equal(points[0]!.at, new Date(1_000).toISOString());
  assert.deepEqual(histories.points('web', 2_000, 100).length, 2, 'only points since the given time');
  histories.retain(new Set(['api']));
  assert.deepEqual(histories.points('web', 0, 100), [], 'a cluster removed from the config is forgotten');
});

test('downsample: at most maxPoints, keeping dips of members and up, peaks of held, every session', () => {
  const samples: HistorySample[] = Array.from({ length: 10 }, (_, index) => ({ at: index * 1000, members: index === 3 ? 1 : 5, held: index === 4 ? 2 : 0, up: 5, requests: 10 }));
  const points = downsample(samples, 4);
  assert.ok(points.length <= 4, `${points.length} points`);
  assert.equal(
    points.reduce((sum, p) => sum + p.requests, 0),
    100,
  );
  assert.equal(Math.min(...points.map((p) => p.members)), 1, 'the dip survives');
  assert.equal(Math.max(...points.map((p) => p.held)), 2, 'the hold survives');
  assert.equal(points.at(-1)!.at, new Date(9000).toISOString(), 'a point is stamped with its last sample');
  assert.deepEqual(downsample([], 4), []);
  assert.equal(downsample(samples, 100).length, 10, 'fewer samples than points: all of them');
});
