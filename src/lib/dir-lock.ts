import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { LighthouseError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { sleep } from './deadline.js';

/**
 * One process at a time per lock file: the writer of a config dir, its
 * reporter, a `lighthouse drain` rewriting drains.json.
 *
 * An O_EXCL lock file holding the owner's PID, its start time (field 22 of
 * /proc/PID/stat) and the boot id, rather than a library:
 * - Node has no flock(); proper-lockfile (the usual choice) decides staleness
 *   by the file's mtime, which the holder must keep refreshing: a writer
 *   paused longer than that (SIGSTOP, a VM freeze) loses its lock while it
 *   still drives HAProxy, and the file does not say who holds it, which is
 *   what the operator needs to read;
 * - a lock whose process is gone (SIGKILL, crash, reboot) is taken over at
 *   once, and PID reuse cannot keep a dead owner's lock alive, because a
 *   live process with that PID must also have the recorded start time.
 * Without /proc (not Linux) only "is PID alive" is checked.
 */

export interface LockOwner {
  pid: number;
  /** clock ticks after boot, from /proc/PID/stat; null where there is no /proc */
  startTime: string | null;
  bootId: string | null;
  host: string;
  /** what holds it: `writer`, `reporter`, `lighthouse drain` */
  role: string;
  since: string;
}

export interface DirLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock file if it is still this process's. Safe to call twice. */
  release(): Promise<void>;
  /** The same, for process 'exit' handlers. */
  releaseSync(): void;
}

export interface AcquireOptions {
  /** what this process is, for the file and the messages */
  role: string;
  /** logs the takeover of a dead owner's lock */
  logger?: Logger;
  /** keep trying this long while a live process holds it (a short critical section, e.g. drains.json); default 0: fail at once */
  waitMs?: number;
}

/** Takes the lock file at `path` (its folder is created), or fails with LH_DIR_LOCKED naming the holder. */
export async function acquireDirLock(path: string, options: AcquireOptions): Promise<DirLock> {
  const owner: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid), bootId: bootId(), host: hostname(), role: options.role, since: new Date().toISOString() };
  const text = `${JSON.stringify(owner)}\n`;
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (error) {
    throw unwritable(path, error);
  }
  const startedAt = Date.now();
  const giveUpAt = startedAt + (options.waitMs ?? 0);
  for (let attempt = 0; ; attempt++) {
    if (await tryCreate(path, text)) return heldLock(path, owner, text);
    const holder = await readOwner(path);
    if (holder === 'gone') continue; // released between our attempt and the read: try again at once
    if (holder === 'unreadable' || isAlive(holder)) {
      // Two daemons started together: the winner's file may still be empty; give it a moment to say who it is.
      const limit = holder === 'unreadable' ? Math.max(giveUpAt, startedAt + 2_000) : giveUpAt;
      if (Date.now() >= limit) throw held(path, holder);
      await sleep(Math.min(10 + attempt * 5, 100) + Math.random() * 10);
      continue;
    }
    await takeOver(path, holder, options);
  }
}

async function tryCreate(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw unwritable(path, error);
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    // Disk full: leave no empty lock behind for the next one to wait on.
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw unwritable(path, error);
  }
  await handle.close();
  return true;
}

/**
 * Removes a dead owner's lock. Under a short guard file, so two processes
 * that both found the same dead owner cannot both remove the lock (the second
 * would remove the first one's new lock): whoever holds the guard re-reads
 * the lock and removes it only if it is still the dead owner's.
 */
async function takeOver(path: string, dead: LockOwner, options: AcquireOptions): Promise<void> {
  const guard = `${path}.takeover`;
  if (!(await tryCreate(guard, `${JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid), bootId: bootId(), host: hostname() })}\n`))) {
    const guardOwner = await readOwner(guard);
    // A guard is held for two file operations; one left behind was left by a process that died holding it.
    if (guardOwner === 'unreadable' ? await olderThan(guard, 5_000) : guardOwner !== 'gone' && !isAlive(guardOwner)) await unlink(guard).catch(() => undefined);
    else await sleep(5 + Math.random() * 10);
    return;
  }
  try {
    const current = await readOwner(path);
    if (current !== 'gone' && current !== 'unreadable' && sameOwner(current, dead)) {
      await unlink(path);
      options.logger?.warn({ file: path, stalePid: dead.pid, staleRole: dead.role, staleSince: dead.since }, `${path}: taking over the lock of ${dead.role} PID ${dead.pid} (since ${dead.since}), which is no longer running`);
    }
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

function heldLock(path: string, owner: LockOwner, text: string): DirLock {
  let released = false;
  const ours = (content: string): boolean => content === text;
  return {
    path,
    owner,
    async release() {
      if (released) return;
      released = true;
      const content = await readFile(path, 'utf8').catch(() => '');
      if (ours(content)) await unlink(path).catch(() => undefined);
    },
    releaseSync() {
      if (released) return;
      released = true;
      try {
        if (ours(readFileSync(path, 'utf8'))) unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}

/**
 * Who holds the lock at `path` now, for a process that only looks (`lighthouse status`):
 * undefined when nobody does (no file, or its owner no longer runs).
 */
export async function liveLockOwner(path: string): Promise<LockOwner | undefined> {
  const owner = await readOwner(path).catch(() => 'unreadable' as const);
  return owner === 'gone' || owner === 'unreadable' || !isAlive(owner) ? undefined : owner;
}

/** The lock's owner; 'gone' when there is no lock file; 'unreadable' when it is being written (or was left empty). */
async function readOwner(path: string): Promise<LockOwner | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw unwritable(path, error);
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0) {
      return { pid: parsed.pid, startTime: parsed.startTime ?? null, bootId: parsed.bootId ?? null, host: parsed.host ?? '', role: parsed.role ?? 'a process', since: parsed.since ?? '?' };
    }
  } catch {
    /* below */
  }
  // Between another process's create and its write, the file is empty; an empty file that stays is a crash right there.
  return (await olderThan(path, 5_000)) ? { pid: 0, startTime: null, bootId: null, host: hostname(), role: 'a process', since: '?' } : 'unreadable';
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > ms;
}

/** Whether the lock's owner still runs. An owner on another host cannot be checked: it counts as alive. */
export function isAlive(owner: LockOwner): boolean {
  if (owner.pid <= 0) return false;
  if (owner.host !== hostname()) return true;
  const boot = bootId();
  if (owner.bootId && boot && owner.bootId !== boot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Alive, but is it the same process? A recycled PID has another start time.
  const startTime = processStartTime(owner.pid);
  return owner.startTime === null || startTime === null || startTime === owner.startTime;
}

function sameOwner(a: LockOwner, b: LockOwner): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.since === b.since && a.host === b.host;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks after boot); the name field before it may hold spaces and parentheses. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

let cachedBootId: string | null | undefined;
function bootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

function held(path: string, holder: LockOwner | 'unreadable'): LighthouseError {
  if (holder === 'unreadable') return new LighthouseError('LH_DIR_LOCKED', 'another process is taking this lock right now', { file: path });
  const where = holder.host === hostname() ? '' : ` on host ${holder.host} (cannot check from here whether it still runs; delete the file if it does not)`;
  return new LighthouseError('LH_DIR_LOCKED', `already locked by ${holder.role} PID ${holder.pid}${where}, running since ${holder.since}`, { file: path });
}

function unwritable(path: string, error: unknown): LighthouseError {
  return new LighthouseError('LH_DIR_LOCKED', `cannot take the lock: ${errorMessage(error)} (the folder must be writable)`, { file: path }, { cause: error });
}
