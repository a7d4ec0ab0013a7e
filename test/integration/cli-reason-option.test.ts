import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { writeConfig } from '../support/daemon-config.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * A drain or maintenance reason is printed by `lighthouse status` (one line
 * per item) and logged on every service's drain: a reason with a line break
 * forged a status line of its own, escape sequences rewrote the operator's
 * terminal, and a pasted ticket of 100 kB went into every log line. Refused
 * (exit 1, as any invalid option) before anything is recorded. The built CLI.
 */
const BAD_REASONS: readonly [string, string][] = [
  ['a line break', 'kernel upgrade\nservice web (discovery zookeeper): all fine'],
  ['an escape sequence', 'kernel \u001b[2J\u001b[Hupgrade'],
  ['2,000 characters', 'x'.repeat(2000)],
];

for (const [command, args] of [
  ['maintenance', ['on']],
  ['drain', ['web']],
] as const) {
  for (const [what, reason] of BAD_REASONS) {
    test(`${command} --reason with ${what} is refused (exit 1, as other invalid options) and nothing is recorded`, { timeout: 30_000 }, async (t) => {
      const dir = await tempDir('lighthouse-reason-');
      t.after(() => dir.remove());
      await writeConfig(dir.path, {
        'discovery/zookeeper.yaml': 'hosts: [127.0.0.1:2181]\npath: /lighthouse/services\n',
        'services/web.yaml': 'discovery: zookeeper\nport: 8001\nchecks:\n  tcp: {}\n',
      });
      const result = await runCli(command, dir.path, ...args, '--reason', reason);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /option '--reason <text>' argument [\s\S]* is invalid/);
      await assert.rejects(readFile(join(dir.path, '.state/drains.json'), 'utf8'), { code: 'ENOENT' });
    });
  }
}

test('a reason of one line with non-ASCII letters is recorded as given', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir('lighthouse-reason-');
  t.after(() => dir.remove());
  await writeConfig(dir.path, { 'discovery/zookeeper.yaml': 'hosts: [127.0.0.1:2181]\npath: /lighthouse/services\n' });
  const result = await runCli('maintenance', dir.path, 'on', '--reason', 'Kernel-Update für König 🐧 (#4711)');
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal((JSON.parse(await readFile(join(dir.path, '.state/drains.json'), 'utf8')) as { maintenance: { reason: string } }).maintenance.reason, 'Kernel-Update für König 🐧 (#4711)');
});
