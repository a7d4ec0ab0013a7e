import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { atLeast, parseStrictJson } from '../support/strict-json.js';
import { ZookeeperCluster } from '../support/zookeeper.js';

/**
 * `--log-level` and LIGHTHOUSE_LOG_LEVEL win over logging.yaml, for a
 * reporter whose one service port answers nothing (so its check fails: a
 * debug line per run, a warning when it starts failing).
 */
describe('--log-level and LIGHTHOUSE_LOG_LEVEL', () => {
  let zk: ZookeeperCluster;
  let dir: TempDir;
  let daemon: DaemonProcess | undefined;

  before(async () => {
    zk = await ZookeeperCluster.start();
    dir = await tempDir();
  });

  after(async () => {
    await daemon?.stop();
    await zk?.stop();
    await dir?.remove();
  });

  async function run(name: string, logging: string, args: string[], env: NodeJS.ProcessEnv): Promise<() => Promise<{ level: string; msg: string }[]>> {
    const [closed] = await freePorts(1);
    const configDir = join(dir.path, name);
    await writeConfig(configDir, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, '/lighthouse/services', 'advertise:\n  host: level.test\n  ip: 127.0.0.1\n'),
      'services/web.yaml': `discovery: zookeeper\nport: ${closed}\nchecks:\n  interval: 0.2\n  tcp:\n    rise: 1\n    fall: 1\n`,
      'logging.yaml': logging,
    });
    const logFile = join(dir.path, `${name}.log`);
    daemon = startDaemon('reporter', configDir, logFile, args, env);
    return async () =>
      (await readFile(logFile, 'utf8').catch(() => ''))
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => parseStrictJson(line) as { level: string; msg: string });
  }

  test('--log-level warn: only warnings and worse, although logging.yaml says debug', async () => {
    const lines = await run('flag', 'level: debug\nformat: json\n', ['--log-level', 'warn'], {});
    await waitFor(async () => (await lines()).some((line) => /check tcp failed/.test(line.msg)), 'the failing check warned about', 30_000);
    const quiet = (await lines()).filter((line) => !atLeast(line, 'warn'));
    assert.deepEqual(quiet, []);
    await daemon!.stop();
  });

  test('LIGHTHOUSE_LOG_LEVEL=debug: debug lines, although logging.yaml says error', async () => {
    const lines = await run('env', 'level: error\nformat: json\n', [], { LIGHTHOUSE_LOG_LEVEL: 'debug' });
    await waitFor(async () => (await lines()).some((line) => line.level === 'debug' && /check tcp/.test(line.msg)), 'a debug line of a check run', 30_000);
    await daemon!.stop();
  });

  test('an unknown level is refused naming the choices, exit 1', async () => {
    await run('bad', 'level: info\nformat: json\n', ['--log-level', 'loud'], {});
    assert.equal(await daemon!.exited, 1);
    const text = await readFile(join(dir.path, 'bad.log'), 'utf8');
    assert.match(text, /--log-level.*loud.*trace, debug, info, warn, error, fatal, silent/s);
  });
});
