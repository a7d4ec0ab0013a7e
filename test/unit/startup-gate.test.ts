import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartupGate } from '../../src/writer/startup-gate.js';
import { waitFor } from '../support/wait-for.js';

test('startup gate: gives up when no cluster reports', async () => {
  let gaveUp = 0;
  const gate = new StartupGate(30, 10_000, () => (gaveUp += 1));
  gate.begin();
  gate.watching();
  await waitFor(() => gaveUp === 1, 'the gate to give up');
  assert.equal(gate.open, true);
});

test('startup gate: clusters that keep reporting do not hold the first sync past the overall deadline', async () => {
  let gaveUp = 0;
  const gate = new StartupGate(200, 600, () => (gaveUp += 1));
  gate.begin();
  gate.watching();
  let reported = 0;
  // A new cluster every 20 ms, forever: only the overall deadline ends the wait.
  const reporter = setInterval(() => gate.progress((reported += 1)), 20);
  try {
    await waitFor(() => gaveUp === 1, 'the overall deadline to end the wait', 10_000);
    assert.equal(gate.open, true);
  } finally {
    clearInterval(reporter);
  }
});

test('startup gate: complete() opens it without giving up', async () => {
  let gaveUp = 0;
  const gate = new StartupGate(20, 40, () => (gaveUp += 1));
  gate.begin();
  gate.watching();
  gate.complete();
  assert.equal(gate.open, true);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(gaveUp, 0);
});
