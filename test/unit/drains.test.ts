import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyDrainChange, DrainWatcher, drainFilePath, emptyDrains, readDrains, withDrain, withoutDrain, writeDrains, type DrainEntry, type DrainRunner } from '../../src/reporter/drains.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { silentLogger } from '../../src/lib/logger.js';

const now = new Date('2026-01-02T03:04:05.000Z');

test('withDrain: ports add up; draining everything replaces them', () => {
  let state = withDrain(emptyDrains(), 'web', [8002], 'a', now);
  state = withDrain(state, 'web', [8001, 8002], 'b', now);
  assert.deepEqual(state.services.web, { ports: [8001, 8002], reason: 'b', since: now.toISOString() });
  state = withDrain(state, 'web', 'all', 'c', now);
  assert.equal(state.services.web?.ports, 'all');
  state = withDrain(state, 'web', [8001], 'd', now);
  assert.equal(state.services.web?.ports, 'all', 'a port of a fully drained service stays covered');
});

test('withoutDrain: undraining one port of a fully drained service keeps the others drained', () => {
  const state = withDrain(emptyDrains(), 'web', 'all', 'deploy', now);
  const after = withoutDrain(state, 'web', [8001], [8001, 8002, 8003]);
  assert.deepEqual(after.services.web?.ports, [8002, 8003]);
  assert.deepEqual(withoutDrain(after, 'web', [8002, 8003], [8001, 8002, 8003]).services, {});
  assert.deepEqual(withoutDrain(state, 'web', 'all', []).services, {});
  assert.equal(withoutDrain(state, 'other', 'all', []), state, 'a service that is not drained: unchanged');
});

class RecordingRunner implements DrainRunner {
  readonly calls: string[] = [];
  setDrained(ports: readonly number[] | 'all', reason: string): void {
    this.calls.push(`drain ${String(ports)} ${reason}`);
  }
  undrain(ports: readonly number[] | 'all'): void {
    this.calls.push(`undrain ${String(ports)}`);
  }
}

const entry = (ports: number[] | 'all', reason = 'r'): DrainEntry => ({ ports, reason, since: now.toISOString() });

test('applyDrainChange: the runner calls that take a running service from one drain state to the next', () => {
  const cases: [DrainEntry | undefined, DrainEntry | undefined, string[]][] = [
    [undefined, entry([1]), ['drain 1 r']],
    [entry([1]), undefined, ['undrain all']],
    [entry([1]), entry([1]), []],
    [entry([1, 2]), entry([2]), ['drain 2 r', 'undrain 1']],
    [entry('all'), entry([2]), ['undrain all', 'drain 2 r']],
    [entry([1]), entry('all', 'x'), ['drain all x']],
    [entry([1], 'a'), entry([1], 'b'), ['drain 1 b']],
    [undefined, undefined, []],
  ];
  for (const [before, after, expected] of cases) {
    const runner = new RecordingRunner();
    applyDrainChange(runner, before, after);
    assert.deepEqual(runner.calls, expected, `${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  }
});

test('readDrains: missing file is no drains; a broken file is an error naming it', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const path = drainFilePath(dir.path);
  assert.equal(path, join(dir.path, '.state', 'drains.json'));
  assert.deepEqual(await readDrains(path), emptyDrains());
  const state = withDrain(emptyDrains(), 'web', [8001], 'deploy', now);
  await writeDrains(path, state);
  assert.deepEqual(await readDrains(path), state);
  await writeFile(path, '{"version": 1, "services": {"web": {"ports": [70000], "reason": "x", "since": "y"}}}');
  await assert.rejects(readDrains(path), (error: Error) => error.message.includes(path) && error.message.includes('services.web.ports'));
  await writeFile(path, '{not json');
  await assert.rejects(readDrains(path), (error: Error) => error.message.includes(path) && /not valid JSON/.test(error.message));
});

test('DrainWatcher: sees drains written later, and keeps them while the file is broken', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const path = drainFilePath(dir.path);
  const watcher = new DrainWatcher(path, silentLogger(), 20);
  t.after(() => watcher.close());
  const changes: string[] = [];
  watcher.onChange((_previous, next) => changes.push(Object.keys(next.services).join(',')));
  await watcher.start();
  assert.equal(watcher.drainsFor('web'), undefined);
  // The .state folder does not exist yet when the reporter starts: created by the first `drain`.
  await writeDrains(path, withDrain(emptyDrains(), 'web', 'all', 'deploy', now));
  await waitFor(() => watcher.drainsFor('web')?.reason === 'deploy', 'the drain to be seen');
  assert.deepEqual(changes, ['web']);
  await writeFile(path, '{half written');
  // Proving a negative: give the 20 ms poller several rounds to (wrongly) drop the drain.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(watcher.drainsFor('web'), { ports: 'all', reason: 'deploy' }, 'still drained while the file is broken');
  assert.deepEqual(changes, ['web']);
  await writeDrains(path, emptyDrains());
  await waitFor(() => watcher.drainsFor('web') === undefined, 'the undrain to be seen');
  assert.deepEqual(changes, ['web', '']);
});
