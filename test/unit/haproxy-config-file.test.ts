import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigFile } from '../../src/balancer/haproxy/config-file.js';
import { emptyHaproxyCounters, type HaproxyCounters } from '../../src/balancer/haproxy/runtime-channel.js';
import type { RenderedConfig } from '../../src/balancer/haproxy/render.js';
import { silentLogger } from '../../src/lib/logger.js';
import { pollUntil } from '../../src/lib/poll.js';

const counters = emptyHaproxyCounters;

const rendered = (servers: string): RenderedConfig => ({ text: `global\n${servers}\n`, skeleton: 'global\n', backends: new Map(), listeners: 1, owners: [], skipped: [] });

async function setup(): Promise<{ file: ConfigFile; path: string; counters: HaproxyCounters; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lh-config-file-'));
  const path = join(dir, 'haproxy.cfg');
  const paths = { config: path, candidate: `${path}.candidate`, adminSocket: '', masterSocket: '', pid: '', serverState: '', stderrLog: '', loaded: '', down: '' };
  const counted = counters();
  // `haproxy -c` is not what is tested here: only the scheduling of background writes.
  const file = new ConfigFile({ paths, process: { check: () => Promise.resolve({ ok: true, warnings: [] }) }, counters: counted, logger: silentLogger(), quietMs: 20, maxDelayMs: 200 });
  return { file, path, counters: counted, done: () => rm(dir, { recursive: true, force: true }) };
}

test('a background write that finds the file already up to date does not stop later writes', async () => {
  const { file, path, done } = await setup();
  try {
    await file.writeValidated(rendered('a'));
    file.defer(rendered('a'), true);
    // Past maxDelayMs: the write of 'a' came due and found nothing to do.
    await new Promise((resolve) => setTimeout(resolve, 400));
    file.defer(rendered('b'), true);
    await pollUntil(async () => (await readFile(path, 'utf8')) === rendered('b').text, 'the second render on disk', 10_000);
    await file.settle();
  } finally {
    await done();
  }
});

test('a burst of deferred renders is written once, the newest; settle() writes at once', async () => {
  const { file, path, counters: counted, done } = await setup();
  try {
    await file.writeValidated(rendered('a'));
    for (const servers of ['b', 'c', 'd']) file.defer(rendered(servers), true);
    await file.settle();
    assert.equal(await readFile(path, 'utf8'), rendered('d').text);
    assert.equal(counted.backgroundWrites, 1);
    file.defer(rendered('e'), true);
    await pollUntil(async () => (await readFile(path, 'utf8')) === rendered('e').text, 'the render written in the background', 10_000);
    assert.equal(counted.backgroundWrites, 2);
    assert.equal(counted.membershipWrites, 2, 'same skeleton, every server accepted: no haproxy -c');
  } finally {
    await done();
  }
});
