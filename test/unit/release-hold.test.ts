import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { releaseHold } from '../../src/cli/release-hold-command.js';
import { releaseRequestPath, writeHolds } from '../../src/writer/holds-file.js';
import { tempDir } from '../support/temp-dir.js';

const hold = { held: ['a.test:1'], listed: 0, reference: 1, floor: 1, since: '2026-11-29T00:00:00.000Z' };

test('release-hold names what it could not do: a cluster that is not held, a request that cannot be written, a writer that does not act', async () => {
  const dir = await tempDir();
  const state = join(dir.path, '.state');
  try {
    assert.deepEqual(await releaseHold(dir.path, 'web', 100), { ok: false, message: `${dir.path}: cluster "web" is not held (held: none) (a writer run with --state-dir needs the same --state-dir here)` });
    await writeHolds(state, { web: hold });
    const timedOut = await releaseHold(dir.path, 'web', 200);
    assert.equal(timedOut.ok, false);
    assert.match(!timedOut.ok ? timedOut.message : '', /did not release cluster "web" within 200 ms/);
    await writeHolds(state, { api: hold });
    await mkdir(releaseRequestPath(state, 'api'), { recursive: true });
    const refused = await releaseHold(dir.path, 'api', 200);
    assert.match(!refused.ok ? refused.message : '', new RegExp(`^${join(dir.path, '.state', 'release-hold.api')}: cannot ask the writer`));
  } finally {
    await dir.remove();
  }
});
