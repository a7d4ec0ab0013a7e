import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { PluginRegistries } from '../plugins/registry.js';
import { KIND_FOLDERS, type ConfigItem, type ConfigProblem, type ItemKind } from './model.js';
import { parseConfigFile } from './parse.js';
import { snapshotOf, type ConfigSnapshot } from './snapshot.js';

/** Files read at once during a scan. */
const READ_CONCURRENCY = 64;

/** A config file larger than this is a mistake (or an attack), not a config. */
const MAX_FILE_BYTES = 1024 * 1024;

interface FileState {
  kind: ItemKind;
  /** raw content last read, to skip re-parsing unchanged files */
  text: string | undefined;
  /** inode, size, mtime and ctime at the last read: equal means the file was not touched, so it is not read again */
  stamp: string | undefined;
  /** last version of this file that validated: stays in force while the file is broken */
  good: ConfigItem | undefined;
  problems: ConfigProblem[];
}

export interface ScanResult {
  snapshot: ConfigSnapshot;
  /** problems of every file as of this scan (also those reported by earlier scans) */
  problems: ConfigProblem[];
  /** problems found by this scan only: what the daemon should log now */
  newProblems: ConfigProblem[];
}

const ALL_KINDS: readonly ItemKind[] = ['logging', 'plugins', 'balancer', 'discovery', 'cluster', 'service'];

/**
 * The config directory as files: each scan re-reads the directory (level
 * triggered, so any edit style — rename, truncate+write, sed -i, editor swap
 * files — ends in the file's final content) and re-parses only files whose
 * text changed. A file that turns invalid keeps its last good item in force.
 */
export class ConfigDirectory {
  private readonly files = new Map<string, FileState>();

  constructor(
    readonly dir: string,
    private readonly registries: PluginRegistries,
    private readonly kinds: readonly ItemKind[] = ALL_KINDS,
  ) {}

  async scan(): Promise<ScanResult> {
    const present = await this.listFiles();
    const newProblems: ConfigProblem[] = [];
    let touched = false;
    for (const path of [...this.files.keys()]) {
      if (present.has(path)) continue;
      this.files.delete(path);
      touched = true;
    }
    const paths = [...present].sort(([a], [b]) => a.localeCompare(b));
    // Reads go out together (a scan of 1,000 files is I/O latency, not CPU); parsing stays in path order.
    const reads = await mapLimited(paths, READ_CONCURRENCY, ([path]) => readConfigText(path, this.files.get(path)?.stamp));
    for (const [index, [path, kind]] of paths.entries()) {
      let state = this.files.get(path);
      if (!state) {
        state = { kind, text: undefined, stamp: undefined, good: undefined, problems: [] };
        this.files.set(path, state);
        touched = true;
      }
      const read = reads[index]!;
      if (!read.ok) {
        // Unreadable now (permissions, vanished mid-scan): keep what was in force.
        if (state.text !== read.error) newProblems.push({ file: path, message: read.error });
        touched ||= state.text !== read.error;
        state.text = read.error;
        state.stamp = undefined;
        state.problems = [{ file: path, message: read.error }];
        continue;
      }
      state.stamp = read.stamp;
      if (read.text === undefined || read.text === state.text) continue;
      touched = true;
      state.text = read.text;
      const parsed = parseConfigFile(kind, path, read.text, basename(path, extname(path)), this.registries);
      if (parsed.ok) {
        state.good = parsed.value;
        state.problems = [];
      } else {
        state.problems = parsed.error;
        newProblems.push(...parsed.error);
      }
    }
    // Nothing was touched (the common case of a periodic rescan): same result, same snapshot object.
    if (!touched && this.last) return { ...this.last, newProblems: [] };
    const { items, conflicts } = this.effectiveItems();
    newProblems.push(...conflicts.filter((conflict) => !this.reportedConflicts.has(conflictKey(conflict))));
    this.reportedConflicts = new Set(conflicts.map(conflictKey));
    const problems = [...[...this.files.values()].flatMap((state) => state.problems), ...conflicts];
    this.last = { snapshot: snapshotOf(items), problems, newProblems };
    return this.last;
  }

  private last: ScanResult | undefined;

  private reportedConflicts = new Set<string>();

  /** `kind/name` -> path of the file whose item is in force under that name, kept across scans. */
  private owners = new Map<string, string>();

  /**
   * Two files of one kind claiming one name: the file already in force keeps
   * it (a newcomer can never take over a running item); with none in force
   * (at start, or after the owner was removed or renamed away), the path that
   * sorts first wins. The other file is reported, naming both.
   */
  private effectiveItems(): { items: ConfigItem[]; conflicts: ConfigProblem[] } {
    const claimants = new Map<string, [string, ConfigItem][]>();
    for (const [path, state] of [...this.files].sort(([a], [b]) => a.localeCompare(b))) {
      if (!state.good) continue;
      const key = `${state.good.kind}/${state.good.name}`;
      const list = claimants.get(key) ?? [];
      list.push([path, state.good]);
      claimants.set(key, list);
    }
    const owners = new Map<string, string>();
    const items: ConfigItem[] = [];
    const conflicts: ConfigProblem[] = [];
    for (const [key, list] of claimants) {
      const previous = this.owners.get(key);
      const [ownerPath, owner] = list.find(([path]) => path === previous) ?? list[0]!;
      owners.set(key, ownerPath);
      items.push(owner);
      for (const [path, item] of list) {
        if (path === ownerPath) continue;
        conflicts.push({
          file: path,
          setting: 'name',
          message: `${item.kind} "${item.name}" is already defined by ${ownerPath}`,
          outcome: `this file is ignored; ${ownerPath} stays in force`,
        });
      }
    }
    this.owners = owners;
    return { items, conflicts };
  }

  private async listFiles(): Promise<Map<string, ItemKind>> {
    const found = new Map<string, ItemKind>();
    const rootFiles = await listYaml(this.dir);
    for (const kind of this.kinds) {
      if (kind === 'logging' || kind === 'plugins') {
        const wanted = kind === 'logging' ? 'logging' : 'plugins';
        for (const file of rootFiles) if (basename(file, extname(file)) === wanted) found.set(file, kind);
        continue;
      }
      for (const file of await listYaml(join(this.dir, KIND_FOLDERS[kind]))) found.set(file, kind);
    }
    return found;
  }
}

function conflictKey(problem: ConfigProblem): string {
  return `${problem.file}\n${problem.message}`;
}

/** YAML files of one folder; dotfiles and editor leftovers (`.x.swp`, `x.yaml~`) never match. */
async function listYaml(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  return entries.filter((name) => !name.startsWith('.') && /\.ya?ml$/.test(name)).map((name) => join(dir, name));
}

/** The file's text, or no text when its stamp equals `previousStamp` (unchanged since the last read). */
async function readConfigText(path: string, previousStamp: string | undefined): Promise<{ ok: true; text: string | undefined; stamp: string } | { ok: false; error: string }> {
  try {
    const info = await stat(path, { bigint: true });
    if (!info.isFile()) return { ok: false, error: 'is not a regular file' };
    // Nanosecond ctime changes on every write, rename and chmod, so a periodic rescan costs a stat per file.
    const stamp = `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    if (stamp === previousStamp) return { ok: true, text: undefined, stamp };
    if (info.size > BigInt(MAX_FILE_BYTES)) return { ok: false, error: `is ${info.size} bytes, larger than the ${MAX_FILE_BYTES} a config file may be` };
    const buffer = await readFile(path);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(buffer);
    return { ok: true, text, stamp };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return { ok: false, error: 'cannot be read: permission denied' };
    if (code === 'ENOENT') return { ok: false, error: await missingTarget(path) };
    if (error instanceof TypeError) return { ok: false, error: 'is not valid UTF-8 text' };
    return { ok: false, error: `cannot be read: ${(error as Error).message}` };
  }
}

/** A file listed a moment ago and now missing: a link whose target is gone (a deployment that links config files in) says so. */
async function missingTarget(path: string): Promise<string> {
  const target = await readlink(path).catch(() => undefined);
  return target === undefined ? 'disappeared while being read' : `is a symbolic link to ${target}, which does not exist`;
}

/** `Promise.all(items.map(fn))` with at most `limit` calls in flight, results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
