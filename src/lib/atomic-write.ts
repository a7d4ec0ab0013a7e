import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LighthouseError, errorMessage } from './errors.js';

/**
 * Writes through a temp file in the same directory and renames it into place,
 * so readers (HAProxy, a reloading master) never see a half-written file.
 * A failed write (disk full, read-only) removes its temp file, and its error
 * names `path`: the system's own message for a failed write does not.
 */
export async function atomicWrite(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    const handle = await open(temp, 'w', mode);
    created = true;
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    if (created) await unlink(temp).catch(() => undefined);
    throw fileWriteError(path, error);
  }
}

/** A write error that names its file (once: an error that already names it is passed on). */
export function fileWriteError(path: string, error: unknown): LighthouseError {
  if (error instanceof LighthouseError && error.subject.file === path) return error;
  return new LighthouseError('LH_FILE_WRITE', `cannot write: ${errorMessage(error)}`, { file: path }, { cause: error });
}
