import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/wait-for.js';

/**
 * The smoke test behind the README's quick start: `lighthouse demo` from the
 * built CLI (what `npm run demo` runs) brings both setups up, traffic reaches
 * every cluster (and the cache and the partner proxy), the crashed instance
 * comes back, and Ctrl-C leaves no process and no temp folder behind.
 */

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

async function pidsMentioning(path: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(path)) pids.push(Number(entry));
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm run demo: both setups serve traffic, heal, and Ctrl-C stops everything', { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [MAIN, 'demo', '--rate', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const root = await waitFor(() => /files and logs in (\S+)/.exec(output)?.[1], 'the demo to name its temp folder', 30_000);
  const pidLine = await waitFor(() => /^pids: (.*)$/m.exec(output)?.[1], `the demo to be ready (output so far:\n${output})`, 90_000);
  const pids = [...pidLine.matchAll(/(\S+)=(\d+)/g)].map((match) => ({ name: match[1]!, pid: Number(match[2]) }));
  assert.deepEqual(pids.map((entry) => entry.name).sort(), ['haproxy', 'redis-1', 'redis-2', 'reporter-machine-a', 'reporter-machine-b', 'writer', 'zookeeper']);
  for (const { name, pid } of pids) assert.ok(alive(pid), `${name} (pid ${pid}) runs while the demo runs`);

  await waitFor(() => output.includes('the cluster healed'), `the crashed webapp instance to come back (output so far:\n${output})`, 60_000, 200);
  // At least one live line after healing, so the summary covers traffic to the restarted instance too.
  const linesBefore = output.split('\ntraffic:').length;
  await waitFor(() => output.split('\ntraffic:').length > linesBefore, 'a live traffic line after healing', 20_000, 200);

  child.kill('SIGINT');
  const code = await waitFor(async () => ({ code: await exited }), 'the demo to exit after Ctrl-C', 45_000);
  assert.equal(code.code, 0, output);

  const summary = JSON.parse(/^summary: (.*)$/m.exec(output)?.[1] ?? 'null') as Record<string, unknown> | null;
  assert.ok(summary, `a summary line:\n${output}`);
  const counts = (cluster: string): Record<string, number> => summary[cluster] as Record<string, number>;
  assert.deepEqual(Object.keys(counts('webapp')).sort(), ['webapp-a1', 'webapp-a2', 'webapp-b1'], 'traffic reached every webapp instance');
  assert.deepEqual(Object.keys(counts('widgets')).sort(), ['widgets-a', 'widgets-b']);
  assert.deepEqual(Object.keys(counts('sprockets')).sort(), ['sprockets-a', 'sprockets-b']);
  for (const [name, count] of Object.entries(counts('cache'))) assert.ok(count > 0, `visits were counted in ${name} through HAProxy's cache port`);
  assert.equal(Object.keys(counts('cache')).length, 2);
  assert.ok((summary.partner as number) > 0, 'the sprockets reached the partner through the proxy');
  assert.match(output, /demo stopped: every process it started has exited and its temp folder is removed/);

  for (const { name, pid } of pids) assert.ok(!alive(pid), `${name} (pid ${pid}) is gone after the demo`);
  assert.deepEqual(await pidsMentioning(root), [], 'no process still refers to the demo folder (HAProxy workers, JVM, redis)');
  assert.ok(!existsSync(root), 'the temp folder is removed');
});
