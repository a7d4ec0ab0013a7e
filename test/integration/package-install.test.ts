import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, type TempDir } from '../support/temp-dir.js';

/**
 * The package as an operator installs it (issue #18.3), with the commands of
 * docs/install.md "Install from the package": `npm pack` in the repository (its
 * prepare script builds dist/), `npm install -g --prefix PREFIX TARBALL`
 * (dependencies from the npm cache or the registry), then the installed
 * commands. Everything lands in a temp dir, removed afterwards. The packing
 * happens in a copy of the repository's sources (node_modules linked): prepack
 * empties dist/, and the other test files running meanwhile use the
 * repository's own dist/.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const TARBALL = `lighthouse-sd-${manifest.version}.tgz`;
/** What the tarball may hold at its top level: the build, the docs and examples, nothing of test/ or bench/. */
const SHIPPED = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist', 'docs', 'examples']);
/** A step bound only against a hung npm; not a timing assertion. */
const STEP_TIMEOUT_MS = 300_000;
/** What packing reads from a clone: the manifest, the build inputs and the shipped files. */
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'README.md', 'LICENSE', 'CHANGELOG.md', 'docs', 'examples'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string): Promise<Run> {
  // No audit or funding requests: the commands stay those of docs/install.md, the output stays short.
  const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

describe('the npm package, packed and installed into a temp prefix', () => {
  let tmp: TempDir;
  let prefix: string;
  let files: string[];
  let clone: string;

  before(async () => {
    tmp = await tempDir('lighthouse-package-');
    prefix = join(tmp.path, 'prefix');
    clone = join(tmp.path, 'clone');
    for (const entry of SOURCES) await cp(join(REPO, entry), join(clone, entry), { recursive: true });
    await symlink(join(REPO, 'node_modules'), join(clone, 'node_modules'));
    // Left in dist/ as by a source file deleted since the last build: packing must not ship it.
    await mkdir(join(clone, 'dist'), { recursive: true });
    await writeFile(join(clone, 'dist', 'lighthouse-package-test-stale.js'), '// a build output without its source\n');
    const packed = await run('npm', ['pack', '--pack-destination', tmp.path], clone);
    assert.equal(packed.code, 0, `npm pack failed:\n${packed.stderr}`);
    assert.equal(packed.stdout.trim().split('\n').at(-1), TARBALL);
    const listed = await run('tar', ['-tzf', join(tmp.path, TARBALL)], tmp.path);
    assert.equal(listed.code, 0, listed.stderr);
    files = listed.stdout.split('\n').filter(Boolean);
    const installed = await run('npm', ['install', '-g', '--prefix', prefix, join(tmp.path, TARBALL)], tmp.path);
    assert.equal(installed.code, 0, `npm install -g failed:\n${installed.stderr}`);
  });

  after(async () => {
    await tmp?.remove();
  });

  test('the tarball holds the build, README, LICENSE and CHANGELOG, and nothing of test/ or bench/', () => {
    for (const file of files) assert.match(file, /^package\//, file);
    const paths = files.map((file) => file.slice('package/'.length));
    assert.deepEqual(paths.filter((path) => /^(test|bench|src|scripts|node_modules)\//.test(path)), []);
    assert.deepEqual([...new Set(paths.map((path) => path.split('/')[0]!))].filter((top) => !SHIPPED.has(top)), []);
    for (const needed of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/cli/main.js', 'dist/cli/writer-alias.js', 'dist/cli/reporter-alias.js', 'dist/lib/version.js']) {
      assert.ok(paths.includes(needed), `${needed} missing from ${TARBALL}`);
    }
    // prepack empties dist/ before prepare builds it again
    assert.ok(!paths.includes('dist/lighthouse-package-test-stale.js'), 'a stale build output was packed');
  });

  test('the commands in the clone\'s dist/ are executable after npm pack rebuilt it (npx lighthouse-sd in a clone runs them)', () => {
    for (const bin of ['dist/cli/main.js', 'dist/cli/writer-alias.js', 'dist/cli/reporter-alias.js']) {
      assert.equal(statSync(join(clone, bin)).mode & 0o111, 0o111, `${bin} is not executable`);
    }
  });

  test('lighthouse-writer --help', async () => {
    const result = await run(join(prefix, 'bin', 'lighthouse-writer'), ['--help'], tmp.path);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage: lighthouse-sd writer \[options\] <config_dir>/);
    assert.match(result.stdout, /--metrics-port <port>/);
    assert.equal(result.stderr, '');
  });

  test('help names the command typed: lighthouse-sd, or its alias lighthouse', async () => {
    for (const command of ['lighthouse-sd', 'lighthouse']) {
      const result = await run(join(prefix, 'bin', command), ['--help'], tmp.path);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Usage: ${command} \\[options\\] \\[command\\]`), command);
    }
  });

  test('lighthouse-reporter --version, lighthouse-sd --version and its alias lighthouse --version', async () => {
    for (const command of ['lighthouse-reporter', 'lighthouse-sd', 'lighthouse']) {
      const result = await run(join(prefix, 'bin', command), ['--version'], tmp.path);
      assert.equal(result.code, 0, `${command}: ${result.stderr}`);
      assert.equal(result.stdout, `${manifest.version}\n`, command);
      assert.equal(result.stderr, '', command);
    }
  });

  test('the installed writer logs its version first, and a missing config dir exits 2', async () => {
    const missing = join(tmp.path, 'no-such-config');
    const result = await run(join(prefix, 'bin', 'lighthouse-writer'), [missing], tmp.path);
    assert.equal(result.code, 2, result.stderr);
    const first = JSON.parse(result.stdout.split('\n')[0]!) as Record<string, unknown>;
    assert.equal(first.version, manifest.version);
    assert.equal(first.package, 'lighthouse-sd');
    assert.match(result.stderr, /no-such-config: not a config directory/);
  });
});

/**
 * What docs/install.md says about Google Lighthouse in the same prefix: the
 * `lighthouse` alias collides with its command and npm installs nothing.
 */
describe('the lighthouse alias next to another package\'s lighthouse command', () => {
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('lighthouse-package-clash-');
  });

  after(async () => {
    await tmp?.remove();
  });

  test('npm install -g into that prefix fails with EEXIST and installs none of our commands', async () => {
    const prefix = join(tmp.path, 'prefix');
    // A stand-in for Google's package: only its name and its command matter.
    const google = join(tmp.path, 'google-lighthouse');
    await mkdir(google);
    await writeFile(join(google, 'package.json'), JSON.stringify({ name: 'lighthouse', version: '1.0.0', bin: { lighthouse: 'cli.js' } }));
    await writeFile(join(google, 'cli.js'), '#!/usr/bin/env node\nconsole.log("google");\n');
    const other = await run('npm', ['pack', '--pack-destination', tmp.path], google);
    assert.equal(other.code, 0, other.stderr);
    assert.equal((await run('npm', ['install', '-g', '--prefix', prefix, join(tmp.path, 'lighthouse-1.0.0.tgz')], tmp.path)).code, 0);
    const ours = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp.path], REPO);
    assert.equal(ours.code, 0, ours.stderr);

    const clash = await run('npm', ['install', '-g', '--prefix', prefix, join(tmp.path, TARBALL)], tmp.path);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /EEXIST/);
    assert.match(clash.stderr, /bin\/lighthouse\b/);
    const theirs = await run(join(prefix, 'bin', 'lighthouse'), [], tmp.path);
    assert.equal(theirs.stdout, 'google\n', 'the other lighthouse command is left alone');
    for (const command of ['lighthouse-sd', 'lighthouse-writer', 'lighthouse-reporter']) {
      assert.equal((await run('test', ['-e', join(prefix, 'bin', command)], tmp.path)).code, 1, `${command} installed`);
    }
  });
});
