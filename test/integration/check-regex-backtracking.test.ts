import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { httpCheck, httpCheckSchema } from '../../src/checks/http.js';
import { tcpCheck, tcpCheckSchema } from '../../src/checks/tcp.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { PluginHelper } from '../../src/lib/plugin-helper.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

const helper: PluginHelper = { logger: silentLogger(), name: 'webapp', file: '/etc/lighthouse/services/webapp.yaml', now: Date.now };
const BASE = '/lighthouse/services';
/** Nested repetition: exponential backtracking on a run of a's that does not end the text. */
const EVIL = '(a+)+$';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/**
 * expect_body_regex / expect_regex run an operator's pattern on a server's
 * answer in the reporter's one thread. A pattern that backtracks
 * exponentially took seconds (26 a's) or forever (40 a's): every check and the
 * ZooKeeper heartbeats stopped with it.
 */
describe('a text expectation whose pattern backtracks catastrophically', () => {
  const servers: Server[] = [];
  let httpPort: number;
  let tcpPort: number;

  before(async () => {
    // 26 a's: seconds of backtracking, so the unbounded match still ends.
    const answer = `${'a'.repeat(26)}!`;
    const http = createHttpServer((_request, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end(answer));
    const tcp = createNetServer((socket) => socket.end(answer));
    servers.push(http, tcp);
    httpPort = await listen(http);
    tcpPort = await listen(tcp);
  });

  after(() => {
    for (const server of servers) server.close();
  });

  it('http: the check fails saying the pattern gave up', async () => {
    const outcome = await httpCheck.create(httpCheckSchema.parse({ uri: '/health', expect_body_regex: EVIL }), { host: '127.0.0.1', port: httpPort }, helper).run(AbortSignal.timeout(30_000));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /expected a body matching \/\(a\+\)\+\$\/ \(gave up after \d+ ms of matching: the pattern backtracks too much/, outcome.detail);
  });

  it('tcp: the check fails saying the pattern gave up', async () => {
    const outcome = await tcpCheck.create(tcpCheckSchema.parse({ expect_regex: EVIL }), { host: '127.0.0.1', port: tcpPort }, helper).run(AbortSignal.timeout(30_000));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /expected the answer matching \/\(a\+\)\+\$\/ \(gave up after \d+ ms of matching/, outcome.detail);
  });

  it('a pattern that matches quickly still passes', async () => {
    const outcome = await httpCheck.create(httpCheckSchema.parse({ uri: '/health', expect_body_regex: '^a+!$' }), { host: '127.0.0.1', port: httpPort }, helper).run(AbortSignal.timeout(30_000));
    assert.equal(outcome.passed, true, outcome.detail);
  });
});

describe('the real reporter keeps working while one service answers a pattern that never finishes matching', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let daemon: DaemonProcess;
  const servers: Server[] = [];
  let evilPort: number;
  let finePort: number;

  const registered = async (service: string): Promise<string[]> => (await admin.getChildren(`${BASE}/${service}`).catch(() => ({ children: [] as string[] }))).children;
  const log = async (): Promise<string> => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir();
    // 40 a's: an unbounded match would not end in this test's lifetime.
    const evil = createHttpServer((_request, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end(`${'a'.repeat(40)}!`));
    const fine = createNetServer((socket) => socket.end());
    servers.push(evil, fine);
    evilPort = await listen(evil);
    finePort = await listen(fine);
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, 'advertise:\n  host: regex.test\n  ip: 127.0.0.1\n'),
      'services/evil.yaml': `discovery: zookeeper\nport: ${evilPort}\nhost: 127.0.0.1\nchecks:\n  interval: 0.3\n  http:\n    uri: /health\n    expect_body_regex: '${EVIL}'\n    rise: 1\n    fall: 1\n`,
      'services/fine.yaml': `discovery: zookeeper\nport: ${finePort}\nhost: 127.0.0.1\nchecks:\n  interval: 0.3\n  tcp:\n    rise: 1\n    fall: 1\n`,
      'logging.yaml': 'level: info\nformat: json\n',
    });
    daemon = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
  });

  after(async () => {
    await daemon?.stop();
    for (const server of servers) server.close();
    admin?.close();
    await zk?.stop();
    await dir?.remove();
  });

  it('the evil service fails its check saying the pattern gave up; the other one is registered, and deregistered when it stops', async () => {
    await waitFor(async () => /check http failed: .*gave up after \d+ ms of matching/.test(await log()), 'the evil check to fail, saying the pattern gave up', 40_000);
    await waitFor(async () => (await registered('fine')).includes(`regex.test:${finePort}`), 'the fine service to be registered', 20_000);
    assert.deepEqual(await registered('evil'), []);
    // The reporter still runs its checks while the evil one keeps failing: the fine service going away is noticed.
    const fine = servers[1]!;
    fine.close();
    await waitFor(async () => (await registered('fine')).length === 0, 'the fine service to be deregistered once it stops listening', 30_000);
    assert.deepEqual(await registered('evil'), []);
  });
});
