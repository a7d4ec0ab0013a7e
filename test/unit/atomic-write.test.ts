import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWrite } from '../../src/lib/atomic-write.js';
import { LighthouseError } from '../../src/lib/errors.js';
import { saveMemberCache } from '../../src/writer/member-cache.js';
import { MOUNT_SKIP, smallFs, type SmallFs } from '../support/small-fs.js';

/** A full disk (a small tmpfs, filled): a failed write leaves nothing behind and says which file it was. */

let fs: SmallFs | undefined;

before(async () => {
  if (!MOUNT_SKIP) fs = await smallFs(256);
});

after(async () => {
  await fs?.remove();
});

test('a write that fails on a full disk removes its temp file, names the file and keeps the old content', { skip: MOUNT_SKIP }, async () => {
  const path = join(fs!.path, 'state.json');
  await writeFile(path, 'old\n');
  await fs!.fill();
  try {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await assert.rejects(atomicWrite(path, 'x'.repeat(64 * 1024)), (error: unknown) => {
        assert.ok(error instanceof LighthouseError);
        assert.equal(error.code, 'LH_FILE_WRITE');
        assert.equal(error.subject.file, path);
        assert.match(error.message, new RegExp(`^${path}: cannot write: ENOSPC`));
        return true;
      });
    }
    assert.deepEqual((await readdir(fs!.path)).filter((name) => name.endsWith('.tmp')), [], 'no temp file survives');
    assert.equal(await readFile(path, 'utf8'), 'old\n');
  } finally {
    await fs!.free();
  }
  await atomicWrite(path, 'new\n');
  assert.equal(await readFile(path, 'utf8'), 'new\n');
});

test('the writer member cache leaves no .writer-members.json.*.tmp behind on a full disk', { skip: MOUNT_SKIP }, async () => {
  const path = join(fs!.path, '.state', 'writer-members.json');
  await saveMemberCache(path, new Map());
  await fs!.fill();
  try {
    const big = Array.from({ length: 2_000 }, (_, index) => ({ host: `h${index}.test`, ip: '10.0.0.1', port: 1000 + index, metadata: {}, peer: { name: `h${index}.test`, ip: '10.0.0.1', port: 1024 } }));
    await assert.rejects(saveMemberCache(path, new Map([['web', big]])), /writer-members\.json: cannot write: ENOSPC/);
    assert.deepEqual(await readdir(join(fs!.path, '.state')), ['writer-members.json']);
  } finally {
    await fs!.free();
  }
});
