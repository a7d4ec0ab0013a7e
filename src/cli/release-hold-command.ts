import { errorMessage } from '../lib/errors.js';
import { pollUntil } from '../lib/poll.js';
import { defaultStateDir, readHolds, releaseRequestPath, requestRelease } from '../writer/holds-file.js';
import { assertConfigDir } from './common.js';

export interface ReleaseHoldOptions {
  /** ms to wait for the writer to act on the request */
  timeout: number;
  /** the writer's --state-dir, where its holds are */
  stateDir?: string;
}

export type ReleaseOutcome = { ok: true; removed: string[] } | { ok: false; message: string };

/**
 * Asks the writer of `configDir` to end a removal-guard hold: the held
 * members are removed, as discovery said. The writer looks for the request
 * about once a second while the cluster is held.
 */
export async function releaseHold(configDir: string, cluster: string, timeoutMs: number, stateDir = defaultStateDir(configDir)): Promise<ReleaseOutcome> {
  const before = (await readHolds(stateDir))[cluster];
  if (!before) {
    const held = Object.keys(await readHolds(stateDir));
    // A writer run with --state-dir keeps its holds there: without the same option this command looks in the wrong folder.
    const where = stateDir === defaultStateDir(configDir) ? ' (a writer run with --state-dir needs the same --state-dir here)' : ` (in ${stateDir})`;
    return { ok: false, message: `${configDir}: cluster "${cluster}" is not held (held: ${held.join(', ') || 'none'})${where}` };
  }
  try {
    await requestRelease(stateDir, cluster);
  } catch (error) {
    return { ok: false, message: `${releaseRequestPath(stateDir, cluster)}: cannot ask the writer to release cluster "${cluster}": ${errorMessage(error)}` };
  }
  try {
    await pollUntil(async () => !(await readHolds(stateDir))[cluster], `the writer to release cluster "${cluster}"`, timeoutMs, 100);
    return { ok: true, removed: before.held };
  } catch {
    return { ok: false, message: `${configDir}: the writer did not release cluster "${cluster}" within ${timeoutMs} ms (is it running on this config directory?)` };
  }
}

export async function runReleaseHold(configDir: string, cluster: string, options: ReleaseHoldOptions): Promise<void> {
  await assertConfigDir(configDir);
  const outcome = await releaseHold(configDir, cluster, options.timeout, options.stateDir);
  if (!outcome.ok) {
    process.stderr.write(`lighthouse: ${outcome.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${cluster}: hold released; ${outcome.removed.length} held members removed: ${outcome.removed.join(', ')}\n`);
}
