import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { feedRiseFall, initialRiseFall, type RiseFallState } from '../../src/checks/rise-fall.js';

/** `P` = pass, `F` = fail; `states` is the up/down state after each result (`u`/`d`). */
interface Case {
  name: string;
  rise: number;
  fall: number;
  start?: boolean;
  results: string;
  states: string;
}

const cases: Case[] = [
  { name: 'starts down and needs rise passes', rise: 3, fall: 2, results: 'PPP', states: 'ddu' },
  { name: 'rise 1 goes up on the first pass', rise: 1, fall: 1, results: 'PFP', states: 'udu' },
  { name: 'a failure resets the rise streak', rise: 3, fall: 2, results: 'PPFPPP', states: 'dddddu' },
  { name: 'needs fall consecutive failures to go down', rise: 1, fall: 3, results: 'PFFF', states: 'uuud' },
  { name: 'a pass resets the fall streak', rise: 1, fall: 2, results: 'PFPFPFF', states: 'uuuuuud' },
  { name: 'failures while down keep it down', rise: 2, fall: 2, results: 'FFFF', states: 'dddd' },
  { name: 'passes while up keep it up', rise: 2, fall: 2, start: true, results: 'PPPP', states: 'uuuu' },
  { name: 'flapping never reaches rise 2', rise: 2, fall: 2, results: 'PFPFPF', states: 'dddddd' },
  { name: 'up then down then up again', rise: 2, fall: 2, results: 'PPFFPP', states: 'duuddu' },
  { name: 'an up start still needs fall failures', rise: 5, fall: 2, start: true, results: 'FF', states: 'ud' },
];

function run(testCase: Case): { states: string; transitions: string[] } {
  let state: RiseFallState = initialRiseFall(testCase.start ?? false);
  let states = '';
  const transitions: string[] = [];
  for (const result of testCase.results) {
    const step = feedRiseFall(state, result === 'P', { rise: testCase.rise, fall: testCase.fall });
    state = step.state;
    states += state.up ? 'u' : 'd';
    if (step.transition) transitions.push(step.transition);
  }
  return { states, transitions };
}

describe('rise/fall state machine', () => {
  it('starts down', () => {
    assert.deepEqual(initialRiseFall(), { up: false, passes: 0, fails: 0 });
  });

  for (const testCase of cases) {
    it(`${testCase.name} (rise ${testCase.rise}, fall ${testCase.fall}: ${testCase.results})`, () => {
      const { states } = run(testCase);
      assert.equal(states, testCase.states);
    });
  }

  it('reports a transition exactly when the state flips', () => {
    for (const testCase of cases) {
      const { states, transitions } = run(testCase);
      const expected: string[] = [];
      let previous = testCase.start ? 'u' : 'd';
      for (const current of states) {
        if (current !== previous) expected.push(current === 'u' ? 'up' : 'down');
        previous = current;
      }
      assert.deepEqual(transitions, expected, testCase.name);
    }
  });

  it('applies lowered thresholds to the streak already seen', () => {
    let state = initialRiseFall();
    state = feedRiseFall(state, true, { rise: 5, fall: 1 }).state;
    state = feedRiseFall(state, true, { rise: 5, fall: 1 }).state;
    assert.equal(state.up, false);
    const step = feedRiseFall(state, true, { rise: 2, fall: 1 });
    assert.equal(step.transition, 'up');
    assert.equal(step.state.passes, 3);
  });

  it('does not mutate the state it is given', () => {
    const state = initialRiseFall();
    feedRiseFall(state, true, { rise: 1, fall: 1 });
    assert.deepEqual(state, { up: false, passes: 0, fails: 0 });
  });
});
