import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FleetNetwork, namespacesUnavailable, runId } from './netns.js';

/**
 * `npm run fleet` (scripts/fleet.ts) as a user runs it: bounded, it prints the
 * hosts and the traffic per host, cuts a host off and heals it, shows the
 * convergence, exits 0 and leaves nothing of its run behind.
 */

const unavailable = namespacesUnavailable();
const SCRIPT = fileURLToPath(new URL('../../scripts/fleet.ts', import.meta.url));

describe('npm run fleet', { skip: unavailable ? `fleet tests skipped: ${unavailable}` : false }, () => {
  it('shows the hosts, traffic per host, a cut-off host dropped and healed, and cleans up', async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--duration', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGTERM'), 120_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    t.diagnostic(output.split('\n').filter((line) => /removed app-4|converged .* after the link/.test(line)).join('\n'));
    assert.equal(code, 0, output);
    for (const host of ['zk-1', 'zk-2', 'zk-3', 'app-1', 'app-2', 'app-3', 'app-4']) assert.match(output, new RegExp(`^${host} +198\\.1[89]\\.`, 'm'), `the host table lists ${host}`);
    assert.match(output, /app-1: +\d+ requests, 0 failed +-> app-1 \d+, app-2 \d+, app-3 \d+, app-4 \d+/, 'traffic per host, spread over every instance');
    assert.match(output, /the other hosts removed app-4 [\d.]+ s after the cut/);
    assert.match(output, /app-4 \(cut off\) keeps its last members: app-1 app-2 app-3 app-4/);
    assert.match(output, /converged [\d.]+ s after the link returned/);
    assert.doesNotMatch(output.split('healing app-4')[0] ?? '', /app-[123]: +\d+ requests, [1-9]\d* failed/, 'no failed requests on the hosts that were not cut off');
    assert.deepEqual(FleetNetwork.leftovers(`lhf${runId(child.pid!)}`), []);
  });
});
