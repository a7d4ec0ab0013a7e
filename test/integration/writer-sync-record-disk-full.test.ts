import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SyncRecorder, readSyncRecord } from '../../src/writer/sync-file.js';
import { captureLogger } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { MOUNT_SKIP, smallFs, type SmallFs } from '../support/small-fs.js';

/**
 * writer-sync.json is written when a sync's outcome changes (and a success at
 * most every few seconds). A write that failed on a full disk was not tried
 * again: in a quiet cluster (no further sync) `lighthouse status` kept saying
 * "NOT IN SYNC: syncs failing since ..." after the syncs had recovered, once
 * the disk had room again.
 */
let fs: SmallFs;

before(async () => {
  if (!MOUNT_SKIP) fs = await smallFs(512);
});

after(async () => {
  await fs?.free();
  await fs?.remove();
});

test('a sync record write that failed on a full disk is made once there is room, without another sync', { skip: MOUNT_SKIP }, async () => {
  const path = join(fs.path, 'writer-sync.json');
  const captured = captureLogger();
  const recorder = new SyncRecorder(path, captured.logger, 200);
  try {
    recorder.failed(new Error('reload refused'));
    await waitFor(async () => (await readSyncRecord(path))?.failingSince != null, 'the failing record to be written');
    await fs.fill();
    recorder.synced();
    await waitFor(() => captured.lines().some((line) => line.code === 'LH_FILE_WRITE'), 'the failed write to be logged');
    assert.notEqual((await readSyncRecord(path))?.failingSince, null, 'the file still says failing');
    await fs.free();
    await waitFor(async () => (await readSyncRecord(path))?.failingSince === null, 'the recovered record to be written once the disk has room', 10_000, 100);
  } finally {
    await fs.free();
    await recorder.close();
  }
});
