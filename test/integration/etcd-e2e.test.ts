import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { EtcdServer } from '../support/etcd.js';
import { originalNodeBytes } from '../support/zookeeper.js';
import { backendsReached, httpGet } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { haproxyYaml, writeConfig } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';

/**
 * `lighthouse reporter` and `lighthouse writer`, both configured with
 * `discovery: etcd`, as real processes: health checks decide what the
 * reporter registers in a real etcd, and the writer routes exactly that
 * through a real HAProxy. The etcd half of "a writer configured with
 * discovery: etcd routes nodes registered by a reporter configured the same way".
 */

const PREFIX = '/lighthouse/services';
const HOST = 'app.test';

describe('etcd end to end: reporter -> etcd -> writer -> HAProxy', () => {
  let etcd: EtcdServer;
  let admin: Etcd3;
  let dir: TempDir;
  let services: ToggleService[];
  let writer: DaemonProcess;
  let reporter: DaemonProcess | undefined;
  let webPort: number;
  let reporterDir: string;

  const key = (port: number) => `${PREFIX}/web/${HOST}:${port}`;
  const registered = async (port: number) => (await admin.get(key(port)).buffer()) ?? undefined;
  const startReporter = () => {
    reporter = startDaemon('reporter', reporterDir, join(dir.path, 'reporter.log'));
    return reporter;
  };
  const reached = () => backendsReached(webPort, 8).catch(() => new Set<string>());
  const logs = async () => `--- writer\n${await readFile(join(dir.path, 'writer.log'), 'utf8').catch(() => '')}\n--- reporter\n${await readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '')}`;

  before(async () => {
    etcd = await EtcdServer.start();
    admin = etcd.client();
    dir = await tempDir('lighthouse-etcd-e2e-');
    const ports = await freePorts(3);
    webPort = ports[0]!;
    services = await Promise.all(ports.slice(1).map(startToggleService));
    const runDir = join(dir.path, 'run');
    await mkdir(runDir, { recursive: true });
    const etcdYaml = `endpoints: ["${etcd.endpoint}"]\nprefix: ${PREFIX}\nlease_ttl: 2\noperation_timeout_ms: 2000\n`;
    const writerDir = join(dir.path, 'writer');
    await writeConfig(writerDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/etcd.yaml': etcdYaml,
      'balancers/haproxy.yaml': haproxyYaml(runDir),
      // These tests watch registrations vanish and the backend empty; the removal guard would hold the
      // (still answering) members instead, which removal-guard.test.ts covers.
      'clusters/web.yaml': `discovery: etcd\nhaproxy:\n  port: ${webPort}\nremoval_guard:\n  enabled: false\n`,
    });
    reporterDir = join(dir.path, 'reporter');
    await writeConfig(reporterDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/etcd.yaml': `${etcdYaml}advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`,
      'services/web.yaml': `ports: [${services.map((service) => service.port).join(', ')}]\ndiscovery: etcd\nmetadata:\n  zone: b\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`,
    });
    writer = startDaemon('writer', writerDir, join(dir.path, 'writer.log'));
    startReporter();
  });

  after(async () => {
    await reporter?.stop();
    await writer?.stop();
    await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
    for (const service of services ?? []) await service.close();
    admin?.close();
    await etcd?.stop();
    await dir?.remove();
  });

  test('healthy ports registered by the reporter in etcd are routed by the writer', async (t) => {
    try {
      await waitFor(async () => (await reached()).size === 2, 'both ports to get traffic through HAProxy', 30_000, 100);
    } catch (error) {
      t.diagnostic(await logs());
      throw error;
    }
    // The etcd value is the original wire format, byte for byte.
    const expected = originalNodeBytes({ host: HOST, ip: '127.0.0.1', port: services[0]!.port, metadataJson: '{"zone": "b"}', peer: { ip: '127.0.0.1', name: HOST, port: 1024 } });
    assert.deepEqual(await registered(services[0]!.port), expected);
  });

  test('a port that turns unhealthy leaves the rotation, and comes back when healthy', async () => {
    const [sick, well] = services as [ToggleService, ToggleService];
    sick.healthy = false;
    await waitFor(async () => (await registered(sick.port)) === undefined, 'the sick port to be deregistered');
    await waitFor(async () => {
      const seen = await reached();
      return seen.size === 1 && seen.has(`port-${well.port}`);
    }, 'only the healthy port to get traffic');
    sick.healthy = true;
    await waitFor(async () => (await reached()).size === 2, 'the port back in rotation');
  });

  test('a reporter killed with SIGKILL: its registrations expire with its lease and the writer stops routing to them', async () => {
    const killed = reporter!;
    killed.signal('SIGKILL');
    await killed.exited;
    // Nobody revoked the lease: etcd drops the keys when its TTL runs out.
    await waitFor(async () => (await registered(services[0]!.port)) === undefined && (await registered(services[1]!.port)) === undefined, 'the lease to expire', 20_000, 100);
    await waitFor(async () => (await httpGet(webPort).catch(() => undefined))?.status === 503, 'HAProxy to have no servers left');

    startReporter();
    await waitFor(async () => (await reached()).size === 2, 'a new reporter to register and be routed again', 30_000, 100);
  });

  test('a clean stop (SIGTERM) revokes the lease: registrations are gone by the time the reporter has exited', async () => {
    assert.equal(await reporter!.stop(), 0);
    assert.equal(await registered(services[0]!.port), undefined);
    assert.equal(await registered(services[1]!.port), undefined);
    await waitFor(async () => (await httpGet(webPort).catch(() => undefined))?.status === 503, 'HAProxy to have no servers left');
    reporter = undefined;
  });
});
