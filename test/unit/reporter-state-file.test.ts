import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireDirLock } from '../../src/lib/dir-lock.js';
import { readReporterState, ReporterStateWriter, type ReporterTroubles } from '../../src/reporter/state-file.js';
import { captureLogger } from '../support/zookeeper.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

/** Real files in a temp folder; the writer's own process holds the lock. */
describe('reporter state file', () => {
  let dir: TempDir;
  before(async () => (dir = await tempDir('lighthouse-reporter-state-')));
  after(() => dir.remove());

  const stall: ReporterTroubles = { stalled: [{ service: 'web', discovery: 'zk', file: '/etc/lighthouse/discovery/zk.yaml', since: '2026-11-29T08:00:00.000Z', session: 'connecting' }], conflicts: [] };
  const none: ReporterTroubles = { stalled: [], conflicts: [] };

  test('written when the state changes, not on repeats; removed when nothing is wrong and on close', async () => {
    const path = join(dir.path, 'a', 'reporter-state.json');
    const writer = new ReporterStateWriter(path, captureLogger().logger);
    writer.update(stall);
    await writer.settle();
    const first = await stat(path);
    writer.update(structuredClone(stall));
    await writer.settle();
    assert.equal((await stat(path)).ino, first.ino, 'an unchanged state is not written again');
    writer.update({ ...stall, stalled: [{ ...stall.stalled[0]!, session: 'disconnected' }] });
    await writer.settle();
    assert.match(await readFile(path, 'utf8'), /"session": "disconnected"/);
    writer.update(none);
    await writer.settle();
    await assert.rejects(stat(path), { code: 'ENOENT' });
    writer.update(stall);
    await writer.close();
    await assert.rejects(stat(path), { code: 'ENOENT' });
    writer.update(stall);
    await writer.settle();
    await assert.rejects(stat(path), { code: 'ENOENT' }, 'nothing written after close');
  });

  test('a write that fails is logged once per change of state and never throws', async () => {
    // The state folder's place is taken by a file: every write fails (ENOTDIR / EEXIST).
    const blocker = join(dir.path, 'blocker');
    await writeFile(blocker, 'not a folder\n');
    const captured = captureLogger();
    const writer = new ReporterStateWriter(join(blocker, 'reporter-state.json'), captured.logger);
    writer.update(stall);
    writer.update(structuredClone(stall));
    await writer.settle();
    writer.update(structuredClone(stall));
    await writer.settle();
    const failures = () => captured.lines().filter((line) => line.code === 'LH_FILE_WRITE');
    assert.equal(failures().length, 1, JSON.stringify(captured.lines()));
    assert.match(String(failures()[0]!.msg), /blocker\/reporter-state\.json: cannot write the reporter's state/);
    writer.update({ ...stall, stalled: [{ ...stall.stalled[0]!, session: 'disconnected' }] });
    await writer.settle();
    assert.equal(failures().length, 2);
    await writer.close();
  });

  test('current while its writer holds the lock; stale when nobody does, or another process does', async () => {
    const stateDir = join(dir.path, 'c');
    const path = join(stateDir, 'reporter-state.json');
    const lockPath = join(stateDir, 'reporter.lock');
    const writer = new ReporterStateWriter(path, captureLogger().logger);
    writer.update(stall);
    await writer.settle();

    assert.match((await readReporterState(path, lockPath))?.stale ?? '', /no reporter holds .*reporter\.lock/);
    const lock = await acquireDirLock(lockPath, { role: 'reporter' });
    const view = await readReporterState(path, lockPath);
    assert.equal(view?.stale, null);
    assert.deepEqual(view?.stalled, stall.stalled);
    await lock.release();

    // Another live process holds the lock: the file is not its own.
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(lockPath, `${JSON.stringify({ pid: other.pid, startTime: null, bootId: null, host: hostname(), role: 'reporter', since: new Date().toISOString() })}\n`);
      assert.match((await readReporterState(path, lockPath))?.stale ?? '', new RegExp(`PID ${other.pid} holds`));
    } finally {
      other.kill('SIGKILL');
    }
    await writer.close();
    assert.equal(await readReporterState(path, lockPath), undefined);
  });

  test('a file that cannot be read, or is not one of ours, fails naming it (never read as "nothing is wrong")', async () => {
    const stateDir = join(dir.path, 'd');
    const path = join(stateDir, 'reporter-state.json');
    const lockPath = join(stateDir, 'reporter.lock');
    await mkdir(path, { recursive: true });
    await assert.rejects(readReporterState(path, lockPath), (error: Error) => error.message.includes(`${path}: the reporter's state cannot be read`));
    const other = join(stateDir, 'other.json');
    await writeFile(other, '{"version":1,"pid":1,"stalled":[{"service":"web"}],"conflicts":[]}\n');
    await assert.rejects(readReporterState(other, lockPath), (error: Error) => {
      assert.match(error.message, new RegExp(`^${other}: not a reporter state file`));
      return true;
    });
  });
});
