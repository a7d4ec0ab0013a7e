import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { effectiveDrain, emptyDrains, readDrains, withDrain, withMaintenance, withoutMaintenance } from '../../src/reporter/drains.js';

const now = new Date('2026-11-29T10:00:00.000Z');

test('maintenance drains every service, also one without a drain of its own, and wins over a service\'s own drain', () => {
  const state = withMaintenance(withDrain(emptyDrains(), 'api', [8001], 'canary', now), 'kernel upgrade', now);
  assert.deepEqual(effectiveDrain(state, 'web'), { ports: 'all', reason: 'maintenance: kernel upgrade', since: now.toISOString() });
  assert.deepEqual(effectiveDrain(state, 'api'), { ports: 'all', reason: 'maintenance: kernel upgrade', since: now.toISOString() });
  const ended = withoutMaintenance(state);
  assert.equal(effectiveDrain(ended, 'web'), undefined);
  assert.deepEqual(effectiveDrain(ended, 'api'), { ports: [8001], reason: 'canary', since: now.toISOString() });
});

test('a second "on" keeps when maintenance began and takes the new reason', () => {
  const later = new Date('2026-11-29T11:00:00.000Z');
  const state = withMaintenance(withMaintenance(emptyDrains(), 'first', now), 'second', later);
  assert.deepEqual(state.maintenance, { reason: 'second', since: now.toISOString() });
});

test('a drain file without maintenance (written before it existed) still reads; one with it round-trips', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lighthouse-maint-'));
  try {
    const path = join(dir, 'drains.json');
    await writeFile(path, JSON.stringify({ version: 1, services: { web: { ports: 'all', reason: 'r', since: now.toISOString() } } }));
    assert.equal((await readDrains(path)).maintenance, undefined);
    await writeFile(path, JSON.stringify(withMaintenance(emptyDrains(), 'm', now)));
    assert.deepEqual((await readDrains(path)).maintenance, { reason: 'm', since: now.toISOString() });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
