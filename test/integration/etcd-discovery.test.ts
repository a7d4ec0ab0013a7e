import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { EtcdServer, createEtcdDiscovery, makeCertificates } from '../support/etcd.js';
import { captureLogger, MemberLog, originalNodeBytes, TcpRelay } from '../support/zookeeper.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { EtcdClusterWatcher } from '../../src/discovery/etcd/cluster-watch.js';
import { etcdDiscovery, type EtcdDiscovery } from '../../src/discovery/etcd/plugin.js';
import { LighthouseError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import { sleep } from '../../src/lib/deadline.js';

/** What only etcd has: leases, revisions, compaction, key ranges, its auth and TLS. The shared behaviour is in discovery-contract.test.ts. */

const PREFIX = '/lighthouse/etcd';
const node = (host: string, ip = '10.0.0.5') => originalNodeBytes({ host, ip, port: 80, metadataJson: '{}', peer: null });
const me: ClusterNode = { host: 'me.example.com', ip: '10.1.1.1', port: 80, metadata: {}, peer: null };

describe('etcd discovery', () => {
  let etcd: EtcdServer;
  let admin: Etcd3;
  const discoveries: EtcdDiscovery[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  const discovery = (config: Record<string, unknown> = {}, logger = silentLogger()): EtcdDiscovery => {
    const created = createEtcdDiscovery({ endpoints: [etcd.endpoint], prefix: PREFIX, lease_ttl: 4, operation_timeout_ms: 2000, ...config }, logger);
    discoveries.push(created);
    return created;
  };
  const put = (key: string, value: Buffer | string) => admin.put(`${PREFIX}/${key}`).value(value).exec();
  const revision = async () => BigInt((await admin.kv.range({ key: Buffer.from('/') })).header.revision);

  before(async () => {
    etcd = await EtcdServer.start();
    admin = etcd.client();
  });

  after(async () => {
    for (const d of discoveries) await d.close().catch(() => undefined);
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    admin?.close();
    await etcd?.stop();
  });

  test('history compacted while a watcher was cut off: the cluster is read again in full, nothing is missed', async () => {
    const relay = await TcpRelay.start(etcd.clientPort);
    cleanups.push(() => relay.close());
    await put('compact/a.example.com:80', node('a.example.com'));
    await put('compact/b.example.com:80', node('b.example.com'));
    const capture = captureLogger();
    const d = discovery({ endpoints: [`http://${relay.address}`] }, capture.logger);
    d.connect();
    const log = new MemberLog();
    d.watch('compact', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);

    relay.cut();
    await admin.delete().key(`${PREFIX}/compact/a.example.com:80`).exec();
    await put('compact/b.example.com:80', node('b.example.com', '10.7.7.7'));
    await put('compact/c.example.com:80', node('c.example.com'));
    // Unrelated writes push the revision well past what the watcher saw; then the history goes.
    for (let i = 0; i < 5; i += 1) await put(`elsewhere/${i}`, 'x');
    await admin.kv.compact({ revision: (await revision()).toString(), physical: true });
    relay.restore();

    const set = await log.waitForKeys(['b.example.com:80', 'c.example.com:80'], 20_000);
    assert.equal(set.members.find((m) => m.host === 'b.example.com')!.ip, '10.7.7.7');
    assert.ok(capture.lines().some((line) => /compacted/.test(String(line.msg))), 'the re-read is logged with its reason');
    // Watching goes on from the re-read.
    await put('compact/d.example.com:80', node('d.example.com'));
    await log.waitForKeys(['b.example.com:80', 'c.example.com:80', 'd.example.com:80']);
  });

  test('a big cluster is read in pages at one revision', async () => {
    for (let i = 0; i < 7; i += 1) await put(`paged/n${i}.example.com:80`, node(`n${i}.example.com`));
    const d = discovery();
    const log = new MemberLog();
    const watcher = new EtcdClusterWatcher({ connection: d.connection, folder: `${PREFIX}/paged/`, cluster: 'paged', onMembers: log.onMembers, logger: silentLogger(), pageSize: 2 });
    cleanups.push(async () => watcher.close());
    const set = await log.waitFor((s) => s.members.length === 7, 'all 7 members');
    assert.deepEqual(set.members.map((m) => m.host), [0, 1, 2, 3, 4, 5, 6].map((i) => `n${i}.example.com`));
    assert.equal(watcher.reads, 1);
  });

  test('keys below a node key, or a prefix that only starts like the cluster, are not members', async () => {
    await put('nest/good.example.com:80', node('good.example.com'));
    await put('nest/deeper/x.example.com:80', node('x.example.com'));
    await put('nested/y.example.com:80', node('y.example.com'));
    const d = discovery();
    d.connect();
    const log = new MemberLog();
    d.watch('nest', log.onMembers);
    const set = await log.waitForKeys(['good.example.com:80']);
    assert.deepEqual(set.rejected.map((r) => r.znode), [`${PREFIX}/nest/deeper/x.example.com:80`]);
  });

  test('registrations hang on the lease: a key left by an earlier run is taken over, and revoking the lease removes it', async () => {
    // A previous run of this machine, on its own lease.
    const previous = admin.lease(30);
    cleanups.push(() => previous.revoke());
    await previous.put(`${PREFIX}/takeover/me.example.com:80`).value(node('me.example.com', '10.1.1.1')).exec();
    const d = discovery();
    const sessions: string[] = [];
    d.connect({ onSession: (id) => sessions.push(id) });
    await waitFor(() => sessions.length === 1, 'a lease');
    assert.equal(await d.isPublished('takeover', me), false, 'same data, but not on our lease');

    await d.publish('takeover', me);
    const kv = (await admin.get(`${PREFIX}/takeover/me.example.com:80`).exec()).kvs[0]!;
    assert.equal(kv.lease, d.session.current());
    assert.equal(await d.isPublished('takeover', me), true);

    await admin.leaseClient.leaseRevoke({ ID: d.session.current()! });
    assert.equal(await admin.get(`${PREFIX}/takeover/me.example.com:80`).buffer(), null);
    await waitFor(() => sessions.length === 2, 'a new lease after the revoke');
    assert.equal(await d.isPublished('takeover', me), false);
  });

  test('settings are checked: endpoints, prefix, TLS combinations, unreadable files', () => {
    const parse = (config: Record<string, unknown>) => etcdDiscovery.schema.safeParse({ endpoints: ['http://127.0.0.1:2379'], prefix: '/lh', ...config });
    assert.equal(parse({}).success, true);
    assert.equal(parse({ endpoints: ['127.0.0.1:2379'] }).success, false, 'a scheme is required');
    assert.equal(parse({ endpoints: ['http://a:2379', 'https://b:2379'] }).success, false, 'one scheme for all');
    assert.equal(parse({ prefix: '/lh/' }).success, false, 'no trailing slash');
    assert.equal(parse({ prefix: '/lh/../x' }).success, false);
    assert.equal(parse({ tls: { ca_file: '/x' } }).success, false, 'tls needs https endpoints');
    assert.equal(parse({ endpoints: ['https://a:2379'], tls: { ca_file: '/x', cert_file: '/y' } }).success, false, 'cert_file needs key_file');
    assert.equal(parse({ lease_ttl: 0 }).success, false);

    const config = etcdDiscovery.schema.parse({ endpoints: ['https://127.0.0.1:2379'], prefix: '/lh', tls: { ca_file: '/nonexistent/ca.pem' } });
    assert.throws(
      () => etcdDiscovery.create(config, { logger: silentLogger(), name: 'etcd', file: '/etc/lighthouse/discovery/etcd.yaml', now: Date.now }),
      (error: unknown) => error instanceof LighthouseError && error.code === 'LH_CONFIG_INVALID' && /etcd\.yaml: tls\.ca_file: cannot read \/nonexistent\/ca\.pem/.test(error.message),
    );
  });

  describe('with authentication and TLS', () => {
    let dir: TempDir;
    before(async () => {
      dir = await tempDir('lighthouse-etcd-tls-');
    });
    after(async () => {
      await dir?.remove();
    });

    test('user and password (also from a file): publish and watch work; a wrong password never connects', async () => {
      const secured = await EtcdServer.start();
      cleanups.push(() => secured.stop());
      const root = secured.client();
      cleanups.push(async () => root.close());
      await root.user('root').create('root-pw');
      await root.user('root').addRole('root');
      await root.role('lighthouse').create();
      await root.role('lighthouse').grant({ permission: 'Readwrite', range: root.range({ prefix: `${PREFIX}/` }) });
      await root.user('lh').create('lh-pw');
      await root.user('lh').addRole('lighthouse');
      await root.auth.authEnable({});

      const passwordFile = join(dir.path, 'etcd-password');
      await writeFile(passwordFile, 'lh-pw\n', { mode: 0o600 });
      const d = discovery({ endpoints: [secured.endpoint], auth: { user: 'lh', password_file: passwordFile } });
      const sessions: string[] = [];
      d.connect({ onSession: (id) => sessions.push(id) });
      const log = new MemberLog();
      d.watch('secure', log.onMembers);
      await log.waitForKeys([]);
      await d.publish('secure', me);
      await log.waitForKeys(['me.example.com:80']);
      assert.equal(sessions.length, 1);

      const wrong = discovery({ endpoints: [secured.endpoint], auth: { user: 'lh', password: 'wrong' }, operation_timeout_ms: 1000 });
      wrong.connect();
      await assert.rejects(wrong.publish('secure', { ...me, port: 81 }), /no etcd lease to register with \(.*authentication failed/);
      assert.equal(wrong.state, 'connecting');
    });

    test('an auth token that expired while only streams were open is renewed when a stream reconnects', async () => {
      const secured = await EtcdServer.start({ authTokenTtlSeconds: 1 });
      cleanups.push(() => secured.stop());
      const root = secured.client();
      cleanups.push(async () => root.close());
      await root.user('root').create('root-pw');
      await root.user('root').addRole('root');
      await root.auth.authEnable({});
      const rootAuth = secured.client({ auth: { username: 'root', password: 'root-pw' } });
      cleanups.push(async () => rootAuth.close());
      const relay = await TcpRelay.start(secured.clientPort);
      cleanups.push(() => relay.close());

      const d = discovery({ endpoints: [`http://${relay.address}`], auth: { user: 'root', password: 'root-pw' } });
      d.connect();
      const log = new MemberLog();
      d.watch('token', log.onMembers);
      await log.waitForKeys([]);
      // Long enough for the token to expire: only streams (watch, keepalive) are open meanwhile.
      await sleep(2500);
      relay.cut();
      await rootAuth.put(`${PREFIX}/token/t.example.com:80`).value(node('t.example.com')).exec();
      relay.restore();
      await log.waitForKeys(['t.example.com:80'], 20_000);
    });

    test('TLS with a private CA and a client certificate', async () => {
      const certs = await makeCertificates(dir.path);
      const secured = await EtcdServer.start({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.ca } });
      cleanups.push(() => secured.stop());
      const d = discovery({ endpoints: [secured.endpoint], tls: { ca_file: certs.ca, cert_file: certs.clientCert, key_file: certs.clientKey } });
      d.connect();
      const log = new MemberLog();
      d.watch('tls', log.onMembers);
      await log.waitForKeys([]);
      await d.publish('tls', me);
      await log.waitForKeys(['me.example.com:80']);
      assert.equal(await d.isPublished('tls', me), true);

      // Without the client certificate the server refuses us.
      const anonymous = discovery({ endpoints: [secured.endpoint], tls: { ca_file: certs.ca }, operation_timeout_ms: 1000 });
      anonymous.connect();
      await assert.rejects(anonymous.publish('tls', { ...me, port: 81 }));
    });
  });
});
