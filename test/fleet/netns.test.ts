import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetNetwork, namespacesUnavailable, runId, sweepStale } from './netns.js';

/**
 * The sweep after a crash: what a run whose process is gone left behind is
 * removed at the next start, and only that (a live run's names are kept).
 */

const unavailable = namespacesUnavailable();

/** A PID no process has now (so a name made from it belongs to a crashed run). */
function deadPid(): number {
  for (let pid = 4_000_000; pid > 100_000; pid -= 7919) if (!existsSync(`/proc/${pid}`)) return pid;
  throw new Error('no free PID found');
}

function leave(prefix: string): void {
  const ns = `${prefix}-h1`;
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  execFileSync('ip', ['link', 'add', `${prefix}-br`, 'type', 'bridge']);
  mkdirSync(join('/etc/netns', ns), { recursive: true });
  writeFileSync(join('/etc/netns', ns, 'hosts'), '127.0.0.1 localhost\n');
  mkdirSync(join(tmpdir(), `${prefix}-fleet`), { recursive: true });
}

describe('fleet network sweep', { skip: unavailable ? `fleet tests skipped: ${unavailable}` : false }, () => {
  const crashed = `lhf${runId(deadPid())}`;
  const live = `lhf${runId()}`;

  after(() => {
    // Our own leftovers if an assertion failed (the sweep keeps a live run's names on purpose).
    for (const prefix of [crashed, live]) {
      for (const args of [['netns', 'del', `${prefix}-h1`], ['link', 'del', `${prefix}-h1`], ['link', 'del', `${prefix}-br`]]) {
        try {
          execFileSync('ip', args, { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
      execFileSync('rm', ['-rf', join('/etc/netns', `${prefix}-h1`), join(tmpdir(), `${prefix}-fleet`)]);
    }
  });

  it('removes namespaces, both veth ends, the bridge, /etc/netns entries and the temp dir of a crashed run, and nothing of a live one', () => {
    leave(crashed);
    leave(live);
    const swept = sweepStale();
    assert.deepEqual(FleetNetwork.leftovers(crashed), [], `swept: ${swept.join(', ')}`);
    assert.equal(existsSync(join('/etc/netns', `${crashed}-h1`)), false);
    assert.equal(existsSync(join(tmpdir(), `${crashed}-fleet`)), false);
    assert.deepEqual(FleetNetwork.leftovers(live).sort(), [`${live}-br`, `${live}-h1`, `${live}-h1`].sort(), 'the live run keeps its namespace, veth end and bridge');
    assert.equal(existsSync(join(tmpdir(), `${live}-fleet`)), true);
  });
});
