import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { EtcdServer } from '../support/etcd.js';
import { originalNodeBytes } from '../support/zookeeper.js';
import { backendsReached } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { haproxyYaml, writeConfig } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';

const PREFIX = '/lighthouse/services';
const HOST = 'app.test';

/**
 * #19.3: etcd SIGKILLed and started again without its data dir. Its
 * revisions start again at 1, below what the writer's watches had seen, and
 * a watch resumed from the old revision waited for a future that never
 * came: a member deleted and another put afterwards were never seen. The
 * real writer and reporter, a real etcd and a real HAProxy, exactly the
 * reproduction.
 */
describe('etcd restarted without its data', () => {
  let etcd: EtcdServer;
  let admin: Etcd3;
  let dir: TempDir;
  let registeredService: ToggleService;
  let otherService: ToggleService;
  let writer: DaemonProcess;
  let reporter: DaemonProcess;
  let webPort: number;

  const key = (port: number) => `${PREFIX}/web/${HOST}:${port}`;
  const reached = () => backendsReached(webPort, 8).catch(() => new Set<string>());
  const logs = async () => `--- writer (level >= warn lines are the interesting ones)\n${await readFile(join(dir.path, 'writer.log'), 'utf8').catch(() => '')}\n--- reporter\n${await readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '')}`;

  before(async () => {
    etcd = await EtcdServer.start();
    admin = etcd.client();
    dir = await tempDir('lighthouse-etcd-data-loss-');
    const [web, a, b, api] = await freePorts(4);
    webPort = web!;
    registeredService = await startToggleService(a!);
    otherService = await startToggleService(b!);
    const runDir = join(dir.path, 'run');
    await mkdir(runDir, { recursive: true });
    const etcdYaml = `endpoints: ["${etcd.endpoint}"]\nprefix: ${PREFIX}\nlease_ttl: 2\noperation_timeout_ms: 2000\n`;
    const writerDir = join(dir.path, 'writer');
    await writeConfig(writerDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/etcd.yaml': etcdYaml,
      'balancers/haproxy.yaml': haproxyYaml(runDir),
      'clusters/web.yaml': `discovery: etcd\nhaproxy:\n  port: ${webPort}\n`,
      // a second cluster: the event is logged once, not once per cluster
      'clusters/api.yaml': `discovery: etcd\nhaproxy:\n  port: ${api}\n`,
    });
    const reporterDir = join(dir.path, 'reporter');
    await writeConfig(reporterDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/etcd.yaml': `${etcdYaml}advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`,
      'services/web.yaml': `port: ${registeredService.port}\ndiscovery: etcd\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`,
    });
    writer = startDaemon('writer', writerDir, join(dir.path, 'writer.log'));
    reporter = startDaemon('reporter', reporterDir, join(dir.path, 'reporter.log'));
  });

  after(async () => {
    await reporter?.stop();
    await writer?.stop();
    await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
    await registeredService?.close();
    await otherService?.close();
    admin?.close();
    await etcd?.stop();
    await dir?.remove();
  });

  test('the writer notices, re-reads, and sees a member deleted and one put afterwards; the reporter re-registers on a new lease', async (t) => {
    try {
      await waitFor(async () => (await reached()).has(`port-${registeredService.port}`), 'the registered port to get traffic', 30_000, 100);
      // Churn in both clusters, so the writer's watches are well past any
      // revision the new etcd reaches in this test (as in the report: 86).
      for (const cluster of ['web', 'api']) {
        const churn = `${PREFIX}/${cluster}/churn.test:1`;
        for (let index = 0; index < 40; index += 1) await admin.put(churn).value(originalNodeBytes({ host: 'churn.test', ip: '127.0.0.1', port: 1, metadataJson: `{"n": ${index}}` }));
        await admin.delete().key(churn);
      }
      const oldRevision = BigInt((await admin.get(key(registeredService.port)).exec()).header.revision);
      await waitFor(async () => (await reached()).size === 1, 'the churn to be over in HAProxy', 30_000, 100);

      await etcd.restartWithoutData();
      const fresh = await admin.get(key(registeredService.port)).exec();
      assert.ok(BigInt(fresh.header.revision) < oldRevision, `etcd started again at revision ${fresh.header.revision}, below ${oldRevision}`);

      // The reporter's lease died with the data: it gets a new one and registers again on it.
      await waitFor(async () => (await admin.get(key(registeredService.port)).buffer()) !== null, 'the reporter to register again', 30_000, 100);
      const [kv] = (await admin.get(key(registeredService.port)).exec()).kvs;
      assert.ok(kv && kv.lease !== '0', 'the registration hangs on a lease');
      const ttl = await admin.leaseClient.leaseTimeToLive({ ID: kv.lease });
      assert.ok(Number(ttl.TTL) > 0, `its lease ${kv.lease} is alive in the new etcd`);

      // Exactly the reproduction: one member deleted, a new one put.
      registeredService.healthy = false;
      await waitFor(async () => (await admin.get(key(registeredService.port)).buffer()) === null, 'the reporter to delete the failing port');
      await admin.put(key(otherService.port)).value(originalNodeBytes({ host: HOST, ip: '127.0.0.1', port: otherService.port }));

      await waitFor(async () => {
        const seen = await reached();
        return seen.size === 1 && seen.has(`port-${otherService.port}`);
      }, 'the writer to route only the new member', 30_000, 100);
    } catch (error) {
      t.diagnostic(await logs());
      throw error;
    }
    const lines = (await readFile(join(dir.path, 'writer.log'), 'utf8')).split('\n');
    const lost = lines.filter((line) => line.includes('LH_ETCD_HISTORY_LOST') && line.includes('"level":"warn"'));
    assert.equal(lost.length, 1, `logged once as a warning:\n${lines.filter((line) => /HISTORY|history|now has/.test(line)).join('\n')}`);
  });
});
