import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { runCli } from '../support/cli.js';

/**
 * Issue #19.2: `interval: 3000000` overflowed Node's timers (a check every
 * millisecond: 2,430 runs in 4 s against the service) and `timeout: 3000000`
 * failed every run at once. Such files must be rejected, naming file and setting.
 */

const BASE = '/lighthouse/services';
const HOST = 'app.test';

describe('reporter: check durations beyond what timers hold are rejected', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let backends: HttpBackend[];
  let reporter: DaemonProcess | undefined;

  const registered = async (service: string, port: number) => (await client.exists(`${BASE}/${service}/${HOST}:${port}`)) !== null;
  const reporterLog = () => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');
  const checks = (extra: string) => `checks:\n  ${extra.split('\n').join('\n  ')}\n`;

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    await mkdirs(client, BASE);
    dir = await tempDir();
    // [0]: a normal service (shows the reporter checks and registers); [1]: huge interval; [2]: huge timeout
    backends = await startHttpBackends('svc', 3);
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/normal.yaml': `discovery: zookeeper\nport: ${backends[0]!.port}\n${checks('interval: 0.2\nhttp: {uri: /health, rise: 1, fall: 1}')}`,
      'services/huge-interval.yaml': `discovery: zookeeper\nport: ${backends[1]!.port}\n${checks('interval: 3000000\nhttp: {uri: /health, rise: 1, fall: 1}')}`,
      'services/huge-timeout.yaml': `discovery: zookeeper\nport: ${backends[2]!.port}\n${checks('interval: 0.2\nhttp: {uri: /health, rise: 1, fall: 1, timeout: 3000000}')}`,
      'logging.yaml': 'level: info\nformat: json\n',
    });
  });

  after(async () => {
    await reporter?.stop();
    client?.close();
    await zk?.stop();
    await Promise.all((backends ?? []).map((backend) => backend.close()));
    await dir?.remove();
  });

  test('check-config names the file and setting of each', { timeout: 30_000 }, async () => {
    const result = await runCli('check-config', dir.path);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`${join(dir.path, 'services', 'huge-interval\\.yaml')}: checks\\.interval \\(line 4\\): must be at most 3600 seconds`));
    assert.match(result.stdout, new RegExp(`${join(dir.path, 'services', 'huge-timeout\\.yaml')}: checks\\.http\\.timeout \\(line 5\\): must be at most 600 seconds`));
  });

  test('the reporter rejects both files (logged with file and setting), never checks or registers them, and runs the rest', { timeout: 60_000 }, async () => {
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
    await waitFor(() => registered('normal', backends[0]!.port), 'the normal service to be registered', 20_000);
    await waitFor(async () => (await reporterLog()).includes('huge-interval.yaml: checks.interval (line 4): must be at most 3600 seconds'), 'the huge interval to be logged with file and setting');
    await waitFor(async () => (await reporterLog()).includes('huge-timeout.yaml: checks.http.timeout (line 5): must be at most 600 seconds'), 'the huge timeout to be logged with file and setting');
    // The normal service has been checked several times meanwhile; the rejected ones never were.
    await waitFor(() => backends[0]!.requests >= 5, 'several checks of the normal service');
    assert.equal(backends[1]!.requests, 0, 'the service with the huge interval was never checked');
    assert.equal(backends[2]!.requests, 0, 'the service with the huge timeout was never checked');
    assert.equal(await registered('huge-interval', backends[1]!.port), false);
    assert.equal(await registered('huge-timeout', backends[2]!.port), false);
  });
});
