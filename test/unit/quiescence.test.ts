import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Quiescence } from '../../src/lib/quiescence.js';

test('a burst of triggers fires once after the quiet period', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    let fired = 0;
    const q = new Quiescence(() => (fired += 1), 50, 1000, () => Date.now());
    for (let i = 0; i < 10; i += 1) {
      q.trigger();
      mock.timers.tick(10);
    }
    assert.equal(fired, 0);
    mock.timers.tick(50);
    assert.equal(fired, 1);
  } finally {
    mock.timers.reset();
  }
});

test('a steady stream still fires by the max wait', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    let fired = 0;
    const q = new Quiescence(() => (fired += 1), 50, 200, () => Date.now());
    for (let i = 0; i < 30; i += 1) {
      q.trigger();
      mock.timers.tick(10);
    }
    assert.ok(fired >= 1, `fired ${fired} times`);
  } finally {
    mock.timers.reset();
  }
});

test('cancel prevents the pending fire', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    let fired = 0;
    const q = new Quiescence(() => (fired += 1), 50, 200, () => Date.now());
    q.trigger();
    q.cancel();
    mock.timers.tick(500);
    assert.equal(fired, 0);
  } finally {
    mock.timers.reset();
  }
});

test('flush fires a pending run at once, and only once; without one pending it does nothing', () => {
  let fired = 0;
  const q = new Quiescence(() => (fired += 1), 10_000, 60_000);
  q.flush();
  assert.equal(fired, 0);
  q.trigger();
  q.flush();
  assert.equal(fired, 1);
  assert.equal(q.pending, false);
  q.flush();
  assert.equal(fired, 1);
});
