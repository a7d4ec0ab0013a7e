import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { atomicWrite } from '../lib/atomic-write.js';

/**
 * The writer's removal-guard holds as files beside the member cache, so
 * `lighthouse status` and `lighthouse release-hold` work without the writer
 * serving HTTP: the writer writes `writer-holds.json` when a hold starts,
 * changes or ends; a release request is a file per cluster that the writer
 * looks for only while that cluster is held.
 *
 * All of them live in the writer's state folder (`--state-dir`, default
 * `<CONFIG_DIR>/.state`): a writer whose config dir is read-only (the
 * systemd unit's ProtectSystem=strict) could otherwise neither show a hold
 * nor be asked to release one.
 */
export interface HeldCluster {
  /** host:port of each held member */
  held: string[];
  listed: number;
  reference: number;
  floor: number;
  /** ISO time the hold started */
  since: string;
}

export interface HoldsFile {
  version: 1;
  pid: number;
  clusters: Record<string, HeldCluster>;
}

/** The state folder when no `--state-dir` is given. */
export function defaultStateDir(configDir: string): string {
  return join(configDir, '.state');
}

export function holdsFilePath(stateDir: string): string {
  return join(stateDir, 'writer-holds.json');
}

export function releaseRequestPath(stateDir: string, cluster: string): string {
  return join(stateDir, `release-hold.${cluster}`);
}

/** The holds as the writer last wrote them; none when the file is missing or unreadable. */
export async function readHolds(stateDir: string): Promise<Record<string, HeldCluster>> {
  try {
    const parsed = JSON.parse(await readFile(holdsFilePath(stateDir), 'utf8')) as Partial<HoldsFile>;
    return parsed.version === 1 && typeof parsed.clusters === 'object' && parsed.clusters !== null ? parsed.clusters : {};
  } catch {
    return {};
  }
}

export async function writeHolds(stateDir: string, clusters: Record<string, HeldCluster>): Promise<void> {
  const path = holdsFilePath(stateDir);
  await mkdir(dirname(path), { recursive: true });
  const file: HoldsFile = { version: 1, pid: process.pid, clusters };
  await atomicWrite(path, `${JSON.stringify(file, null, 1)}\n`, 0o644);
}

export async function requestRelease(stateDir: string, cluster: string): Promise<void> {
  const path = releaseRequestPath(stateDir, cluster);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${new Date().toISOString()}\n`);
}

/** True when a release was requested (the request is consumed). */
export async function takeReleaseRequest(stateDir: string, cluster: string): Promise<boolean> {
  try {
    await unlink(releaseRequestPath(stateDir, cluster));
    return true;
  } catch {
    return false;
  }
}
