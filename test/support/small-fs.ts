import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A small tmpfs of its own, for tests of a full disk: `fill()` takes every
 * free page (a file can still be created, but no byte written), `free()`
 * gives them back. Mounting needs root; tests skip with `MOUNT_SKIP` otherwise.
 */
export interface SmallFs {
  path: string;
  fill(): Promise<void>;
  free(): Promise<void>;
  /** unmounts and removes the mount point */
  remove(): Promise<void>;
}

export const MOUNT_SKIP = process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs (a full disk)';

export async function smallFs(sizeKb = 2048): Promise<SmallFs> {
  const path = await mkdtemp(join(tmpdir(), 'lighthouse-smallfs-'));
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0755`, 'tmpfs', path]);
  const filler = join(path, '.filler');
  return {
    path,
    async fill() {
      const handle = await open(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024);
      try {
        for (;;) await handle.write(chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        await handle.close();
      }
    },
    async free() {
      await unlink(filler).catch(() => undefined);
    },
    async remove() {
      await run('umount', ['-l', path]).catch(() => undefined);
      await rm(path, { recursive: true, force: true });
    },
  };
}
