import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient, mkdirs } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { startGrpcHealthServer, ServingStatus, type GrpcHealthServer } from '../support/grpc-health-server.js';
import { selfSignedCertificate } from '../support/certificates.js';

const BASE = '/lighthouse/services';
const HOST = 'app.test';

/**
 * The new check kinds through the real reporter (built CLI) into real
 * ZooKeeper: a gRPC service registers while its health service says
 * SERVING and deregisters when it says NOT_SERVING; an HTTPS service with a
 * self-signed certificate registers only where the check trusts it.
 */
describe('reporter with grpc and verified https checks', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let grpc: GrpcHealthServer;
  let https: Server | undefined;
  let httpsPort = 0;
  let reporter: DaemonProcess;
  let certSkip: string | undefined;

  const znode = (service: string, port: number) => `${BASE}/${service}/${HOST}:${port}`;
  const exists = async (service: string, port: number) => (await client.exists(znode(service, port))) !== null;
  const reporterLog = () => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    await mkdirs(client, BASE);
    dir = await tempDir();
    grpc = await startGrpcHealthServer();
    grpc.statuses.set('billing.Ledger', ServingStatus.SERVING);
    const checks = (section: string) => `checks:\n  interval: 0.2\n${section}`;
    const files: Record<string, string> = {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/ledger.yaml': `discovery: zookeeper\nport: ${grpc.port}\n${checks('  grpc:\n    service: billing.Ledger\n    rise: 1\n    fall: 1\n    timeout: 1\n')}`,
      'logging.yaml': 'level: info\nformat: json\n',
    };
    const made = selfSignedCertificate(dir.path, 'web', ['web.internal', '127.0.0.1']);
    if (made.ok) {
      https = createHttpsServer({ key: await readFile(made.paths.key), cert: await readFile(made.paths.cert) }, (_request, response) => response.end('ok'));
      await new Promise<void>((resolve) => https!.listen(0, '127.0.0.1', resolve));
      const address = https.address();
      httpsPort = typeof address === 'object' && address ? address.port : 0;
      const http = (extra: string) => checks(`  http:\n    uri: /health\n    https: true\n    expect_body: ok\n${extra}    rise: 1\n    fall: 1\n`);
      files['services/verified.yaml'] = `discovery: zookeeper\nport: ${httpsPort}\n${http(`    ca_file: ${made.paths.cert}\n    host_header: web.internal\n`)}`;
      files['services/untrusted.yaml'] = `discovery: zookeeper\nport: ${httpsPort}\n${http('')}`;
    } else certSkip = made.reason;
    await writeConfig(dir.path, files);
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
  });

  after(async () => {
    await reporter?.stop();
    client?.close();
    await zk?.stop();
    await grpc?.stop();
    https?.closeAllConnections();
    await new Promise<void>((resolve) => (https ? https.close(() => resolve()) : resolve()));
    await dir?.remove();
  });

  test('a gRPC service registers while SERVING, deregisters on NOT_SERVING and comes back', async () => {
    await waitFor(() => exists('ledger', grpc.port), 'the SERVING gRPC service to register', 30_000);
    grpc.statuses.set('billing.Ledger', ServingStatus.NOT_SERVING);
    await waitFor(async () => !(await exists('ledger', grpc.port)), 'the NOT_SERVING service to deregister', 30_000);
    await waitFor(async () => (await reporterLog()).includes('NOT_SERVING, expected SERVING'), 'the reason in the reporter log', 30_000);
    grpc.statuses.set('billing.Ledger', ServingStatus.SERVING);
    await waitFor(() => exists('ledger', grpc.port), 'the service to register again', 30_000);
  });

  test('an HTTPS service registers with the right CA and not with the system CAs', async (t) => {
    if (!https) return t.skip(`cannot make a certificate: ${certSkip}`);
    await waitFor(() => exists('verified', httpsPort), 'the verified HTTPS service to register', 30_000);
    await waitFor(async () => (await reporterLog()).includes('certificate rejected'), 'the untrusted check to fail on the certificate', 30_000);
    assert.equal(await exists('untrusted', httpsPort), false, 'a certificate the system CAs do not sign never registers');
  });
});
