import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectClient, ZookeeperCluster } from '../support/zookeeper.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { writeConfig } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

/**
 * A third-party check plugin that breaks the check contract (#19.5): a real
 * package, packed and installed next to the config directory, used by a real
 * reporter against a real ZooKeeper. Its `run` resolves with whatever JSON a
 * file holds (`null`, `{"passed": "false"}`, ...), or rejects when the file
 * says `"reject"`.
 */

const execFileAsync = promisify(execFile);
const BASE = '/lighthouse/plugin-results';
const OFFLINE = ['--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];

const PLUGIN_SOURCE = `import { readFileSync } from 'node:fs';
const plugin = {
  apiVersion: 1,
  name: 'lighthouse-check-sloppy',
  setup(api) {
    api.registerCheck({
      kind: 'sloppy',
      schema: api.z.strictObject({ file: api.z.string() }),
      create(config) {
        return {
          async run() {
            const value = JSON.parse(readFileSync(config.file, 'utf8'));
            if (value === 'reject') throw new Error('the sloppy plugin gave up');
            return value;
          },
        };
      },
    });
  },
};
export default plugin;
`;

describe('a check plugin that breaks the result contract, in a real reporter', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let tmp: TempDir;
  let reporter: DaemonProcess | undefined;

  before(async () => {
    tmp = await tempDir('lighthouse-plugin-results-');
    const source = join(tmp.path, 'lighthouse-check-sloppy');
    await mkdir(source);
    await writeFile(join(source, 'package.json'), JSON.stringify({ name: 'lighthouse-check-sloppy', version: '1.0.0', type: 'module', main: './index.js', exports: './index.js' }));
    await writeFile(join(source, 'index.js'), PLUGIN_SOURCE);
    const packed = await execFileAsync('npm', ['pack', source, '--json', '--pack-destination', tmp.path, ...OFFLINE], { cwd: tmp.path });
    const [{ filename }] = JSON.parse(packed.stdout) as { filename: string }[];
    const project = join(tmp.path, 'project');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'site', private: true }));
    await execFileAsync('npm', ['install', join(tmp.path, filename!), ...OFFLINE], { cwd: project });
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
  });

  after(async () => {
    await reporter?.stop();
    await admin?.close();
    await zk?.stop();
    await tmp?.remove();
  });

  test('a result that is not {passed: boolean} fails the run naming the plugin; the port follows valid results again', async (t) => {
    const port = await freePort();
    const dir = join(tmp.path, 'project', 'config');
    const answer = join(tmp.path, 'answer.json');
    await writeFile(answer, JSON.stringify({ passed: 'false' }));
    await writeConfig(dir, {
      'plugins.yaml': 'plugins:\n  - lighthouse-check-sloppy\n',
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zk.yaml': `plugin: zookeeper\nhosts: ["${zk.hosts[0]}"]\npath: ${BASE}\nsession_timeout_ms: 4000\nadvertise:\n  host: sloppy.example.com\n  ip: 127.0.0.1\n`,
      'services/web.yaml': `port: ${port}\ndiscovery: zk\nchecks:\n  interval: 0.1\n  sloppy:\n    file: ${answer}\n    rise: 1\n    fall: 1\n`,
    });
    const logFile = join(dir, 'reporter.log');
    const log = () => readFile(logFile, 'utf8').catch(() => '');
    /** The log's messages, one a line (the file is JSON lines). */
    const messages = async () =>
      (await log())
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg))
        .join('\n');
    reporter = startDaemon('reporter', dir, logFile);
    const znode = `${BASE}/web/sloppy.example.com:${port}`;
    const registered = async () => (await admin.exists(znode)) !== null;
    try {
      await waitFor(async () => /check sloppy failed: check plugin "sloppy" resolved with passed: "false", not a boolean/.test(await messages()), 'the truthy string to fail the run', 30_000, 50);
      assert.equal(await registered(), false, 'passed: "false" does not register the port');

      await writeFile(answer, JSON.stringify({ passed: true, detail: 'fine' }));
      await waitFor(registered, 'a valid pass to register the port', 15_000, 50);

      // null used to throw inside the check loop on every run: the port never went down.
      await writeFile(answer, 'null');
      await waitFor(async () => !(await registered()), 'a null result to take the port down', 15_000, 50);
      assert.match(await messages(), /check plugin "sloppy" resolved with null/);

      await writeFile(answer, JSON.stringify({ passed: true }));
      await waitFor(registered, 'registered again', 15_000, 50);
      await writeFile(answer, JSON.stringify('reject'));
      await waitFor(async () => !(await registered()), 'a rejected run to take the port down', 15_000, 50);
      assert.match(await messages(), /check plugin "sloppy" threw: the sloppy plugin gave up/);
      assert.doesNotMatch(await messages(), /unhandled|\[object Object\]/i);
      assert.equal(await reporter.stop(), 0);
    } catch (error) {
      t.diagnostic(await log());
      throw error;
    }
  });

  test('a detail with line breaks and a megabyte of text is logged as one bounded line (pretty logs too)', async (t) => {
    const port = await freePort();
    const dir = join(tmp.path, 'project', 'config-detail');
    const answer = join(tmp.path, 'answer-detail.json');
    // What a plugin running a command and returning its stderr gives: several lines, and no bound.
    const detail = `exit 1\nFORGED INFO service web port ${port} is up\u001b[2J${'x'.repeat(1_000_000)}`;
    await writeFile(answer, JSON.stringify({ passed: false, detail }));
    await writeConfig(dir, {
      'plugins.yaml': 'plugins:\n  - lighthouse-check-sloppy\n',
      'logging.yaml': 'level: info\nformat: pretty\n',
      'discovery/zk.yaml': `plugin: zookeeper\nhosts: ["${zk.hosts[0]}"]\npath: ${BASE}\nsession_timeout_ms: 4000\nadvertise:\n  host: sloppy.example.com\n  ip: 127.0.0.1\n`,
      'services/web.yaml': `port: ${port}\ndiscovery: zk\nchecks:\n  interval: 0.1\n  sloppy:\n    file: ${answer}\n    rise: 1\n    fall: 1\n`,
    });
    const logFile = join(dir, 'reporter.log');
    const log = () => readFile(logFile, 'utf8').catch(() => '');
    const daemon = startDaemon('reporter', dir, logFile);
    try {
      const line = await waitFor(async () => (await log()).split('\n').find((text) => text.includes('check sloppy failed: exit 1')), 'the failed run to be logged', 30_000, 50);
      assert.doesNotMatch(await log(), /^FORGED/m, 'the detail cannot start a log line of its own');
      assert.ok(line.includes('\\nFORGED'), `the line break is shown escaped: ${line.slice(0, 200)}`);
      assert.ok(!line.includes('\u001b'), 'no terminal escape reaches the log');
      assert.ok(line.length < 4_000, `the line is bounded (${line.length} characters)`);
      assert.equal(await daemon.stop(), 0);
    } catch (error) {
      t.diagnostic((await log()).slice(0, 4_000));
      throw error;
    } finally {
      await daemon.stop();
    }
  });
});
