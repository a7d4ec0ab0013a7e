import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectClient, ZookeeperCluster } from '../support/zookeeper.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { decodeNode } from '../../src/discovery/codec.js';

/**
 * The example plugin as an operator would use it: packed with `npm pack`,
 * installed with `npm install` into a project next to the config directory
 * (offline: the package has no dependencies), named in plugins.yaml, and used
 * by a service file of a real `lighthouse reporter` process against a real
 * ZooKeeper. The check is `test -f <file>`: the file decides registration.
 */

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE_DIR = join(REPO, 'examples/plugins/lighthouse-check-command');
const BASE = '/lighthouse/plugin-e2e';
const OFFLINE = ['--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];

describe('example plugin package, installed and used by the reporter', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let tmp: TempDir;
  let project: string;
  const children: ChildProcess[] = [];

  before(async () => {
    tmp = await tempDir('lighthouse-plugin-e2e-');
    project = join(tmp.path, 'project');
    await mkdir(project);
    const packed = await execFileAsync('npm', ['pack', PACKAGE_DIR, '--json', '--pack-destination', tmp.path, ...OFFLINE], { cwd: tmp.path });
    const [{ filename }] = JSON.parse(packed.stdout) as { filename: string }[];
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'lighthouse-site-config', private: true }));
    await execFileAsync('npm', ['install', join(tmp.path, filename!), ...OFFLINE], { cwd: project });
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await admin?.close();
    await zk?.stop();
    await tmp?.remove();
  });

  /** A config dir inside the project, so the plugin resolves from the project's node_modules. */
  async function configDir(name: string, plugins: string[], service: Record<string, string>): Promise<string> {
    const dir = join(project, name);
    await mkdir(join(dir, 'discovery'), { recursive: true });
    await mkdir(join(dir, 'services'), { recursive: true });
    await writeFile(join(dir, 'plugins.yaml'), `plugins:\n${plugins.map((plugin) => `  - ${plugin}\n`).join('')}`);
    await writeFile(join(dir, 'logging.yaml'), 'level: info\nformat: json\n');
    await writeFile(
      join(dir, 'discovery', 'zk.yaml'),
      `plugin: zookeeper\nhosts: ["${zk.hosts[0]}"]\npath: ${BASE}\nsession_timeout_ms: 4000\nadvertise:\n  host: cmd.example.com\n  ip: 127.0.0.1\n`,
    );
    for (const [file, text] of Object.entries(service)) await writeFile(join(dir, 'services', file), text);
    return dir;
  }

  /** `lighthouse reporter DIR` as a process, run from the repository (so not from the project: the config dir must be what finds the plugin). */
  function reporter(dir: string): { child: ChildProcess; output: () => string } {
    const logFile = join(dir, 'reporter.log');
    const log = openSync(logFile, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'reporter', dir], { cwd: REPO, stdio: ['ignore', log, log] });
    closeSync(log);
    children.push(child);
    return { child, output: () => readFileSync(logFile, 'utf8') };
  }

  const exited = (child: ChildProcess): Promise<number | null> =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

  async function registration(service: string, key: string): Promise<Buffer | undefined> {
    try {
      return (await admin.getData(`${BASE}/${service}/${key}`)).data;
    } catch {
      return undefined;
    }
  }

  test('the command check decides registration: creating the file registers the port, removing it deregisters', async (t) => {
    const port = await freePort();
    const flag = join(tmp.path, 'healthy');
    const dir = await configDir('config', ['lighthouse-check-command'], {
      'web.yaml': `port: ${port}\ndiscovery: zk\nchecks:\n  interval: 0.2\n  command:\n    command: [test, -f, ${flag}]\n    rise: 1\n    fall: 1\n`,
    });
    const { child, output } = reporter(dir);
    const key = `cmd.example.com:${port}`;
    try {
      await waitFor(() => /loaded plugin lighthouse-check-command@1\.0\.0: check:command/.test(output()), 'the plugin to be loaded', 30_000, 50);
      // The check has run and failed (no file yet): the port is not registered.
      await waitFor(() => /check command failed: command \[.*\]: exit 1/.test(output()), 'a failed run of the command check', 30_000, 50);
      assert.equal(await registration('web', key), undefined);

      await writeFile(flag, '');
      const data = await waitFor(() => registration('web', key), 'the registration once the file exists', 15_000, 50);
      const node = decodeNode(data);
      assert.ok(node.ok && node.value.port === port && node.value.host === 'cmd.example.com');

      await rm(flag);
      await waitFor(async () => (await registration('web', key)) === undefined, 'the deregistration once the file is gone', 15_000, 50);
      await writeFile(flag, '');
      await waitFor(() => registration('web', key), 'the registration again', 15_000, 50);

      child.kill('SIGTERM');
      assert.equal(await exited(child), 0);
      assert.equal(await registration('web', key), undefined, 'a clean stop removes the registration at once');
    } catch (error) {
      t.diagnostic(output());
      throw error;
    }
  });

  test('a plugin that is not installed stops the daemon at start with one line naming the package', async () => {
    const dir = await configDir('config-missing', ['lighthouse-check-nope'], {});
    const { child, output } = reporter(dir);
    assert.equal(await exited(child), 1);
    assert.match(output(), /LH_PLUGIN_LOAD: .*plugins\.yaml: plugins\.0: plugin package "lighthouse-check-nope" is not installed/);
  });
});
