import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireDirLock, processStartTime, type LockOwner } from '../../src/lib/dir-lock.js';
import { LighthouseError } from '../../src/lib/errors.js';
import { captureLogger } from '../support/zookeeper.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';

/** Real lock files in a temp folder, real processes as owners. */
describe('dir lock', () => {
  let dir: TempDir;
  let sleeper: ChildProcess;

  before(async () => {
    dir = await tempDir('lighthouse-lock-');
    sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
  });

  after(async () => {
    sleeper.kill('SIGKILL');
    await dir.remove();
  });

  const owner = (pid: number, startTime: string | null): LockOwner => ({ pid, startTime, bootId: null, host: hostname(), role: 'writer', since: '2026-01-01T00:00:00.000Z' });

  test('a second taker fails naming the holder; release lets the next one in', async () => {
    const path = join(dir.path, 'state', 'a.lock');
    const first = await acquireDirLock(path, { role: 'writer' });
    const error = await acquireDirLock(path, { role: 'writer' }).then(() => undefined, (caught: unknown) => caught);
    assert.ok(error instanceof LighthouseError && error.code === 'LH_DIR_LOCKED', String(error));
    assert.match(error.message, new RegExp(`a\\.lock: already locked by writer PID ${process.pid}\\b`));
    await first.release();
    assert.equal(existsSync(path), false);
    const second = await acquireDirLock(path, { role: 'writer' });
    await second.release();
  });

  test('a lock whose process is alive is kept, even when it is not ours', async () => {
    const path = join(dir.path, 'alive.lock');
    await writeFile(path, JSON.stringify(owner(sleeper.pid!, processStartTime(sleeper.pid!))));
    await assert.rejects(acquireDirLock(path, { role: 'writer' }), new RegExp(`PID ${sleeper.pid}\\b`));
  });

  test('a dead owner\'s lock is taken over, with a log line naming it', async () => {
    const dead = spawn('true');
    await new Promise((resolve) => dead.once('exit', resolve));
    const path = join(dir.path, 'dead.lock');
    await writeFile(path, JSON.stringify(owner(dead.pid!, '12345')));
    const capture = captureLogger('warn');
    const lock = await acquireDirLock(path, { role: 'writer', logger: capture.logger });
    assert.equal((JSON.parse(await readFile(path, 'utf8')) as LockOwner).pid, process.pid);
    assert.ok(capture.lines().some((line) => String(line.msg).includes(`taking over the lock of writer PID ${dead.pid}`)), JSON.stringify(capture.lines()));
    await lock.release();
  });

  test('PID reuse: a live process with the recorded PID but another start time does not hold the lock', async () => {
    const path = join(dir.path, 'reused.lock');
    // The sleeper's PID, as if a writer that had it once had died and the PID had been given to `sleep`.
    const recorded = String(Number(processStartTime(sleeper.pid!)) - 1000);
    await writeFile(path, JSON.stringify(owner(sleeper.pid!, recorded)));
    const lock = await acquireDirLock(path, { role: 'writer' });
    await lock.release();
  });

  test('many takers of a dead owner\'s lock at once: exactly one gets it', async () => {
    const path = join(dir.path, 'race.lock');
    await writeFile(path, JSON.stringify(owner(2 ** 22 + 7, null)));
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireDirLock(path, { role: 'writer' })));
    // One process: every taker is this PID, so "held by a live process" is what the others must see.
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1, JSON.stringify(results.map((result) => result.status === 'rejected' ? String(result.reason) : 'ok')));
  });

  test('a lock file still being written (empty) is waited for until it names its holder', async () => {
    const path = join(dir.path, 'empty.lock');
    await writeFile(path, '');
    setTimeout(() => void writeFile(path, JSON.stringify(owner(sleeper.pid!, processStartTime(sleeper.pid!)))), 300);
    await assert.rejects(acquireDirLock(path, { role: 'writer' }), new RegExp(`already locked by writer PID ${sleeper.pid}\\b`));
  });

  test('waitMs: a short-lived holder is waited for', async () => {
    const path = join(dir.path, 'wait.lock');
    const first = await acquireDirLock(path, { role: 'lighthouse drain' });
    setTimeout(() => void first.release(), 200);
    const second = await acquireDirLock(path, { role: 'lighthouse drain', waitMs: 10_000 });
    await second.release();
  });

  test('an unwritable folder is a clear LH_DIR_LOCKED error naming the lock file', async () => {
    // /sys refuses mkdir even to root, unlike a chmod'ed folder.
    await assert.rejects(acquireDirLock('/sys/lighthouse-test-state/writer.lock', { role: 'writer' }), (error: unknown) => {
      assert.ok(error instanceof LighthouseError && error.code === 'LH_DIR_LOCKED');
      assert.match(error.message, /\/sys\/lighthouse-test-state\/writer\.lock: cannot take the lock: .*(EPERM|EACCES|EROFS).*must be writable/);
      return true;
    });
  });
});
