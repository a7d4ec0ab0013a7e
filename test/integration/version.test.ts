import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { httpGet } from '../support/http-backends.js';
import { runCli } from '../support/cli.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';

/**
 * The version an operator can ask for (issue #18.2): `--version` on every
 * command, `lighthouse_build_info` on both daemons' /metrics, and the
 * version in each daemon's first log line. It must be package.json's.
 */
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

describe('version', () => {
  let dir: TempDir;
  const daemons: DaemonProcess[] = [];

  before(async () => {
    dir = await tempDir('lighthouse-version-');
  });

  after(async () => {
    for (const daemon of daemons) await daemon.stop();
    await dir?.remove();
  });

  test('--version and -V print package.json\'s version, exit 0, on the command and on writer/reporter', async () => {
    for (const args of [['--version'], ['-V'], ['writer', '--version'], ['reporter', '--version']]) {
      const result = await runCli(...args);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, `${manifest.version}\n`, args.join(' '));
      assert.equal(result.stderr, '');
    }
  });

  test('--help lists --version', async () => {
    const result = await runCli('--help');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /-V, --version +print the version and exit/);
  });

  for (const command of ['writer', 'reporter'] as const) {
    test(`a running ${command}: lighthouse_build_info on /metrics, the version in its first log line`, async () => {
      // An empty config dir is enough to start; build info does not depend on discovery or HAProxy.
      const configDir = join(dir.path, command);
      await mkdir(configDir);
      await writeFile(join(configDir, 'logging.yaml'), 'level: info\nformat: json\n');
      const port = await freePort();
      const logFile = join(dir.path, `${command}.log`);
      daemons.push(startDaemon(command, configDir, logFile, ['--metrics-port', String(port)]));
      const metrics = await waitFor(async () => (await httpGet(port, '/metrics').catch(() => undefined))?.body, `${command} /metrics`, 30_000, 100);
      const line = metrics.split('\n').find((text) => text.startsWith('lighthouse_build_info{'));
      assert.ok(line, `no lighthouse_build_info in:\n${metrics.slice(0, 2000)}`);
      assert.match(line, new RegExp(`package="${manifest.name}"`));
      assert.match(line, new RegExp(`version="${manifest.version.replaceAll('.', '\\.')}"`));
      assert.match(line, new RegExp(`node="${process.version.replaceAll('.', '\\.')}"`));
      assert.match(line, / 1$/);

      const first = JSON.parse(readFileSync(logFile, 'utf8').split('\n')[0]!) as Record<string, unknown>;
      assert.equal(first.version, manifest.version);
      assert.equal(first.node, process.version);
      assert.equal(first.daemon, command);
      assert.match(String(first.msg), new RegExp(`^${manifest.name} ${manifest.version.replaceAll('.', '\\.')} ${command} `));
    });
  }
});
