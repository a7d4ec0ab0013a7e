import { readFile } from 'node:fs/promises';

/** Kills the HAProxy master (and so its workers) named in a pid file; tests call it in after() hooks. */
export async function killHaproxy(pidFile: string): Promise<void> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  for (const pid of text.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
