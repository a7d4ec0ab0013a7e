import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, type TempDir } from '../support/temp-dir.js';

/**
 * Issue #19.6 and #19.8: plugin packages that never finish loading, or fail
 * at import, installed in a project's node_modules next to the config
 * directory and named in plugins.yaml, loaded by a real `lighthouse reporter`
 * process. The daemon must stop with one LH_PLUGIN_LOAD line naming the
 * package and what it was doing, never hang or exit silently (code 13).
 */

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PLUGINS: Record<string, string> = {
  // A top-level await that never settles and nothing else alive: Node exited 13 with no output.
  'lighthouse-hang-import': 'await new Promise(() => {});\nexport default { apiVersion: 1, setup() {} };\n',
  // The same while holding a timer: the daemon hung forever without a log line.
  'lighthouse-hang-import-timer': 'setInterval(() => {}, 1000);\nawait new Promise(() => {});\nexport default { apiVersion: 1, setup() {} };\n',
  'lighthouse-hang-setup': 'export default { apiVersion: 1, name: "hang-setup", setup() { return new Promise(() => {}); } };\n',
  'lighthouse-hang-setup-timer': 'export default { apiVersion: 1, setup() { setInterval(() => {}, 1000); return new Promise(() => {}); } };\n',
  'lighthouse-boom': 'throw new Error("boom at import");\n',
};

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe('plugins that never finish loading', () => {
  let tmp: TempDir;
  let project: string;

  before(async () => {
    tmp = await tempDir('lighthouse-plugin-stuck-');
    project = join(tmp.path, 'project');
    for (const [name, code] of Object.entries(PLUGINS)) {
      const folder = join(project, 'node_modules', name);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, 'package.json'), JSON.stringify({ name, version: '0.0.1', type: 'module', main: 'index.js' }));
      await writeFile(join(folder, 'index.js'), code);
    }
  });

  after(async () => {
    await tmp?.remove();
  });

  /** `lighthouse reporter DIR` with plugins.yaml naming `plugin`; killed if it has not exited within a generous bound (the defect: it never does). */
  async function reporterWith(plugin: string): Promise<Run> {
    const dir = join(project, `config-${plugin}`);
    await mkdir(join(dir, 'services'), { recursive: true });
    await writeFile(join(dir, 'plugins.yaml'), `plugins:\n  - ${plugin}\n`);
    await writeFile(join(dir, 'logging.yaml'), 'level: info\nformat: json\n');
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'reporter', dir], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LIGHTHOUSE_PLUGIN_TIMEOUT_MS: '2000' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])));
    clearTimeout(killer);
    return { code, signal, stdout, stderr };
  }

  for (const [plugin, doing] of [
    ['lighthouse-hang-import', /did not finish importing within 2000 ms/],
    ['lighthouse-hang-import-timer', /did not finish importing within 2000 ms/],
    ['lighthouse-hang-setup', /setup\(\) did not finish within 2000 ms/],
    ['lighthouse-hang-setup-timer', /setup\(\) did not finish within 2000 ms/],
  ] as const) {
    test(`${plugin}: exit 1 with an LH_PLUGIN_LOAD line naming the package and the step`, { timeout: 60_000 }, async () => {
      const run = await reporterWith(plugin);
      assert.equal(run.signal, null, `it exited by itself (not killed after hanging); stderr: ${run.stderr}`);
      assert.equal(run.code, 1, `exit 1, not 13; stderr: ${run.stderr}`);
      const line = run.stderr.split('\n').find((text) => text.startsWith('lighthouse: LH_PLUGIN_LOAD: '));
      assert.ok(line, `an LH_PLUGIN_LOAD line on stderr: ${run.stderr}`);
      assert.ok(line.includes(`"${plugin}"`), line);
      assert.match(line, doing);
      const logged = run.stdout.split('\n').filter(Boolean).map((text) => JSON.parse(text) as { level: string; code?: string; msg: string });
      assert.ok(logged.some((entry) => entry.level === 'fatal' && entry.code === 'LH_PLUGIN_LOAD' && entry.msg.includes(plugin)), `a fatal log line: ${run.stdout}`);
    });
  }

  test('an import error is told once: "boom at import", not "boom at import: boom at import"', { timeout: 60_000 }, async () => {
    const run = await reporterWith('lighthouse-boom');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^lighthouse: LH_PLUGIN_LOAD: .*plugins\.yaml: plugins\.0: "lighthouse-boom" \(.*index\.js\) failed to load: boom at import\n$/m);
    const fatal = run.stdout.split('\n').filter(Boolean).map((text) => JSON.parse(text) as { level: string; msg: string; err?: { message?: string; stack?: string } }).find((entry) => entry.level === 'fatal');
    assert.ok(fatal, run.stdout);
    assert.ok(fatal.msg.endsWith('failed to load: boom at import'), fatal.msg);
    for (const text of [run.stdout, run.stderr]) assert.doesNotMatch(text, /boom at import: boom at import/);
    assert.match(fatal.err?.stack ?? '', /index\.js:1/, 'the plugin\'s own stack is logged');
  });
});
