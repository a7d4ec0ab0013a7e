import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/temp-dir.js';

/**
 * The shipped units as `systemd-analyze verify` sees them (#18.4), with the
 * commands where the docs say they are: in /usr/local/bin (Debian's
 * `npm install -g`), or under a prefix of their own with the drop-in of
 * examples/systemd/prefix/. The commands are the built dist/ (`npm run
 * build`), linked the way npm links a global install's bin entries.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SYSTEMD = join(REPO, 'examples', 'systemd');
const UNITS = ['lighthouse-writer', 'lighthouse-reporter'] as const;
const BINS = { 'lighthouse-writer': 'dist/cli/writer-alias.js', 'lighthouse-reporter': 'dist/cli/reporter-alias.js', 'lighthouse-sd': 'dist/cli/main.js' } as const;

interface Run {
  code: number;
  output: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, output: `${stdout}${stderr}` });
    });
  });
}

async function available(command: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${command}`]).catch(() => ({ code: 1 }))).code === 0;
}

const noAnalyze = (await available('systemd-analyze')) ? false : 'systemd-analyze is not installed (no systemd on this machine)';
const asRoot = process.getuid?.() === 0;
const noNamespace = noAnalyze || (!asRoot ? 'needs root for a private mount namespace over /usr/local/bin' : (await available('unshare')) ? false : 'unshare is not installed');

/** A bin folder like the one `npm install -g --prefix P` makes (P/bin/NAME -> the package's script). */
async function binFolder(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  for (const [name, script] of Object.entries(BINS)) await symlink(join(REPO, script), join(path, name));
}

/** `systemd-analyze verify` on units from `unitDir` (plus the system's own, for the targets they name). */
function verify(unitDir: string, units: readonly string[], wrap: (args: string[]) => [string, string[]] = (args) => ['systemd-analyze', args]): Promise<Run> {
  const [file, args] = wrap(['verify', ...units.map((unit) => `${unit}.service`)]);
  // The trailing ":" appends systemd's default unit path to ours.
  return run(file, args, { ...process.env, SYSTEMD_UNIT_PATH: `${unitDir}:` });
}

test('systemd units: `systemd-analyze verify` passes with the commands in /usr/local/bin, as Debian\'s npm installs them', { skip: noNamespace, timeout: 90_000 }, async (t) => {
  const dir = await tempDir('lighthouse-systemd-');
  t.after(() => dir.remove());
  const units = join(dir.path, 'units');
  await mkdir(units);
  for (const unit of UNITS) await copyFile(join(SYSTEMD, `${unit}.service`), join(units, `${unit}.service`));
  const bin = join(dir.path, 'usr-local-bin');
  await binFolder(bin);
  // A private mount namespace: /usr/local/bin is replaced for systemd-analyze only, never for the machine.
  const result = await verify(units, UNITS, (args) => ['unshare', ['--mount', 'sh', '-c', `mount --bind "$0" /usr/local/bin && exec systemd-analyze "$@"`, bin, ...args]]);
  assert.equal(result.code, 0, result.output);
  assert.doesNotMatch(result.output, /not executable|lighthouse-(writer|reporter)\.service/, result.output);
});

const inUsrBin = (await available('/usr/bin/lighthouse-writer')) ? '/usr/bin/lighthouse-writer exists on this machine' : false;

test('systemd units: without the commands installed, verify fails naming the command (the check can fail)', { skip: noNamespace || inUsrBin, timeout: 90_000 }, async (t) => {
  const dir = await tempDir('lighthouse-systemd-');
  t.after(() => dir.remove());
  const units = join(dir.path, 'units');
  await mkdir(units);
  for (const unit of UNITS) await copyFile(join(SYSTEMD, `${unit}.service`), join(units, `${unit}.service`));
  const empty = join(dir.path, 'empty-bin');
  await mkdir(empty);
  const result = await verify(units, UNITS, (args) => ['unshare', ['--mount', 'sh', '-c', `mount --bind "$0" /usr/local/bin && exec systemd-analyze "$@"`, empty, ...args]]);
  assert.notEqual(result.code, 0, result.output);
  assert.match(result.output, /Command lighthouse-writer is not executable/);
});

test('systemd units: the prefix drop-ins make `systemd-analyze verify` pass for an install under its own prefix', { skip: noAnalyze, timeout: 90_000 }, async (t) => {
  const dir = await tempDir('lighthouse-systemd-');
  t.after(() => dir.remove());
  const units = join(dir.path, 'units');
  const prefix = join(dir.path, 'opt-lighthouse');
  await binFolder(join(prefix, 'bin'));
  for (const unit of UNITS) {
    await mkdir(join(units, `${unit}.service.d`), { recursive: true });
    await copyFile(join(SYSTEMD, `${unit}.service`), join(units, `${unit}.service`));
    // The documented edit: /opt/lighthouse replaced by the prefix.
    const dropIn = (await readFile(join(SYSTEMD, 'prefix', `${unit}.conf`), 'utf8')).replaceAll('/opt/lighthouse', prefix);
    await writeFile(join(units, `${unit}.service.d`, 'prefix.conf'), dropIn);
  }
  // The writer's other shipped drop-in (a machine keeping the original's config dir) composes with it.
  await copyFile(join(SYSTEMD, 'lighthouse-writer.service.d', 'original-config.conf'), join(units, 'lighthouse-writer.service.d', 'original-config.conf'));
  const result = await verify(units, UNITS);
  assert.equal(result.code, 0, result.output);
  assert.doesNotMatch(result.output, /not executable/, result.output);
});

test('systemd units: no ExecStartPre check-config that would keep a crashed daemon down on one bad file', async () => {
  for (const unit of UNITS) {
    const text = await readFile(join(SYSTEMD, `${unit}.service`), 'utf8');
    assert.doesNotMatch(text, /^ExecStartPre=(?!-)/m, `${unit}: a failing ExecStartPre stops every restart`);
    assert.match(text, /^Restart=always$/m);
  }
});
