import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { startHostileServer, type HostileServer } from '../support/hostile-http.js';

const BASE = '/lighthouse/services';
const HOST = 'app.test';
/** far longer than the test waits: a run that reads until its timeout shows up as bytes, not as a slow test */
const CHECK_TIMEOUT_S = 30;
const FALL = 2;
/**
 * The check reads at most 16 KiB of head and 16 KiB of body; what the
 * server gets into the kernel before the close adds the socket buffers
 * (a few MiB on loopback). Reading until the timeout at loopback speed is
 * hundreds of MiB.
 */
const SENT_BOUND = 16 * 1024 * 1024;

/**
 * #19.1: a service answering 500 with a chunked body that never ends pinned
 * a CPU core of the reporter and every run read until the timeout. The real
 * reporter against such a server must mark the port down after `fall` runs,
 * each ending with the client closing the connection early.
 */
describe('reporter against an http service whose error body never ends', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let service: HostileServer;
  let reporter: DaemonProcess;

  const znode = () => `${BASE}/web/${HOST}:${service.port}`;

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    await mkdirs(client, BASE);
    dir = await tempDir();
    service = await startHostileServer(await freePort());
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/web.yaml': `discovery: zookeeper\nport: ${service.port}\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: ${FALL}\n    timeout: ${CHECK_TIMEOUT_S}\n`,
      'logging.yaml': 'level: debug\nformat: json\n',
    });
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
  });

  after(async () => {
    await reporter?.stop();
    client?.close();
    await zk?.stop();
    await service?.close();
    await dir?.remove();
  });

  test('a never-ending chunk-size line fails each run early, and the port is reported down', async (t) => {
    await waitFor(async () => (await client.exists(znode())) !== null, 'the healthy port to register', 30_000);
    service.answer = { head: 'HTTP/1.1 500 ERR\r\nTransfer-Encoding: chunked\r\n\r\n', next: () => 'f'.repeat(4096) };
    await waitFor(async () => (await client.exists(znode())) === null, 'the port to be deregistered after fall', 120_000);
    // Every hostile run the reporter finished, it finished by closing the connection itself.
    const finished = service.connections.filter((connection) => connection.closedByClient);
    for (const connection of finished) assert.ok(connection.sent < SENT_BOUND, `the server sent ${connection.sent} bytes before the reporter closed`);
    assert.ok(finished.length >= FALL, `${finished.length} of ${service.connections.length} runs finished (${JSON.stringify(service.connections)})`);
    // The failing runs say why, with the status.
    const log = await readFile(join(dir.path, 'reporter.log'), 'utf8');
    assert.match(log, /HTTP 500 \(stopped reading: body longer than \d+ bytes\)/);
    // And it keeps checking at its interval: more runs finish, none of them reading until the timeout.
    const seen = service.connections.length;
    await waitFor(() => service.connections.filter((connection) => connection.closedByClient).length >= seen + 3, 'further runs to finish');
    const all = service.connections.filter((c) => c.closedByClient);
    for (const connection of all) assert.ok(connection.sent < SENT_BOUND, `the server sent ${connection.sent} bytes`);
    t.diagnostic(`${all.length} hostile runs, at most ${Math.max(...all.map((c) => c.sent))} bytes sent in one`);
  });
});
