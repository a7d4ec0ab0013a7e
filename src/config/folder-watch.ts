import { statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

interface Watched {
  watcher: FSWatcher;
  /** inode watched: a folder deleted and re-created is a new inode and needs a new watch */
  ino: number;
}

/**
 * Watches the config directory and its item folders (not the files): one
 * inotify watch per folder reports creates, writes, renames and deletes of
 * every file in it, so there is no per-file watch to lose when a file is
 * deleted and re-created quickly (chokidar lost exactly those). Every event
 * only says "look again"; the caller rescans.
 */
export class FolderWatch {
  private readonly watched = new Map<string, Watched>();
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly folders: readonly string[],
    private readonly onEvent: () => void,
    private readonly onError: (error: Error) => void,
  ) {}

  start(): void {
    this.sync();
  }

  /** Opens watches for folders that (re)appeared and drops those that went away. */
  private sync(): void {
    if (this.closed) return;
    for (const path of [this.root, ...this.folders.map((folder) => join(this.root, folder))]) {
      const ino = inodeOf(path);
      const current = this.watched.get(path);
      if (current && current.ino === ino) continue;
      current?.watcher.close();
      this.watched.delete(path);
      if (ino === undefined) continue; // absent for now: the root's events tell when it appears
      try {
        const watcher = watch(path, { persistent: true }, () => {
          this.sync();
          this.onEvent();
        });
        watcher.on('error', (error) => {
          watcher.close();
          this.watched.delete(path);
          if (!this.closed && inodeOf(path) === undefined) this.onEvent();
          else this.onError(error);
        });
        this.watched.set(path, { watcher, ino });
      } catch (error) {
        this.onError(error as Error);
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const { watcher } of this.watched.values()) watcher.close();
    this.watched.clear();
  }
}

function inodeOf(path: string): number | undefined {
  try {
    const info = statSync(path);
    return info.isDirectory() ? info.ino : undefined;
  } catch {
    return undefined;
  }
}
