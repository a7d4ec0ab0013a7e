import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { FleetReport } from '../../src/cli/fleet-view.js';
import { machineId } from '../../src/lib/machine-id.js';
import { ackRecordName, decodeAck } from '../../src/discovery/ack-record.js';
import { BUILT_CLI, runCli } from '../support/cli.js';
import { haproxyYaml, writeConfig } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { EtcdServer } from '../support/etcd.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { originalNodeBytes } from '../support/zookeeper.js';

/**
 * The acknowledgement record on etcd: a key on the writer's lease under
 * `<acks_prefix>/`, carrying the revision of the last change the writer's
 * HAProxy runs (a put's, and a delete's), gone with the lease.
 */

const PREFIX = '/lighthouse/services';
const ACKS = '/lighthouse/writer-acks';

describe('writer acknowledgements on etcd', () => {
  let etcd: EtcdServer;
  let admin: Etcd3;
  let dir: TempDir;
  let backends: HttpBackend[];
  let writer: DaemonProcess | undefined;
  let configDir: string;
  let stateDir: string;
  let runDir: string;

  const key = (backend: HttpBackend) => `${PREFIX}/web/${backend.id}.test:${backend.port}`;
  const put = async (backend: HttpBackend) => (await admin.put(key(backend)).value(originalNodeBytes({ host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port })).exec()).header.revision;
  const fleet = async (): Promise<FleetReport> => JSON.parse((await runCli('fleet', configDir, '--json')).stdout) as FleetReport;
  const acknowledged = (revision: string, members: number) =>
    waitFor(async () => {
      const report = await fleet().catch(() => undefined);
      const entry = report?.clusters.find((cluster) => cluster.name === 'web')?.writers[0];
      return entry?.version === revision && entry.members === members ? report : undefined;
    }, `the writer to acknowledge revision ${revision}`, 20_000).catch(async (error: unknown) => assert.fail(`${String(error)}\n${await readFile(join(dir.path, 'writer.log'), 'utf8').catch(() => '')}`));

  before(async () => {
    assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
    etcd = await EtcdServer.start();
    admin = etcd.client();
    dir = await tempDir('lighthouse-acks-etcd-');
    backends = await startHttpBackends('b', 2);
    const [port] = await freePorts(1);
    runDir = join(dir.path, 'run');
    await mkdir(runDir, { recursive: true });
    configDir = join(dir.path, 'writer');
    stateDir = join(dir.path, 'state');
    await writeConfig(configDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/etcd.yaml': `endpoints: ["${etcd.endpoint}"]\nprefix: ${PREFIX}\nlease_ttl: 2\noperation_timeout_ms: 2000\n`,
      'balancers/haproxy.yaml': haproxyYaml(runDir),
      'clusters/web.yaml': `discovery: etcd\nhaproxy:\n  port: ${port}\n`,
    });
    await put(backends[0]!);
    writer = startDaemon('writer', configDir, join(dir.path, 'writer.log'), ['--state-dir', stateDir]);
  });

  after(async () => {
    await writer?.stop();
    await killHaproxy(join(runDir, 'haproxy.pid'));
    for (const backend of backends ?? []) await backend.close();
    admin?.close();
    await etcd?.stop();
    await dir?.remove();
  });

  test('the record is a leased key naming the writer, with the revision of each change the writer applied (put and delete)', async () => {
    const added = await put(backends[1]!);
    const report = await acknowledged(added, 2);
    const id = `${hostname()}:${resolve(stateDir)}`;
    assert.deepEqual(report.writers.map((writer) => writer.writer), [id]);
    const recordKey = `${ACKS}/${ackRecordName(hostname(), resolve(stateDir), 'etcd', machineId())}`;
    assert.deepEqual(report.writers[0]!.records, [recordKey]);
    const stored = await admin.get(recordKey).exec();
    const kv = stored.kvs[0];
    assert.ok(kv, `${recordKey} is missing`);
    assert.notEqual(kv.lease, '0', 'the record is not on a lease');
    const decoded = decodeAck(kv.value.toString('utf8'));
    assert.ok(decoded.ok);
    assert.equal(decoded.ack.clusters.web?.version, added);

    const removed = (await admin.delete().key(key(backends[0]!)).exec()).header.revision;
    await acknowledged(removed, 1);
  });

  test('the record goes with the writer (its lease)', async () => {
    writer!.signal('SIGKILL');
    await writer!.exited;
    writer = undefined;
    await waitFor(async () => (await fleet().catch(() => undefined))?.writers.length === 0, 'the record to expire with the lease', 20_000);
  });
});
