import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { captureLogger, connectClient, createDiscovery, mkdirs, originalNodeBytes, ZookeeperCluster } from '../support/zookeeper.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { OPEN_ACL, type ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { ZkCode, zkCodeOf } from '../../src/discovery/zookeeper/zk-errors.js';
import type { ZookeeperDiscovery } from '../../src/discovery/zookeeper/discovery.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import { LighthouseError } from '../../src/lib/errors.js';

const BASE = '/lh/publish';
const web1: ClusterNode = {
  host: 'web1.example.com',
  ip: '10.0.0.5',
  port: 8000,
  metadata: { version: '1.2' },
  peer: { name: 'web1.example.com', ip: '10.0.0.5', port: 1024 },
};
// SPEC §3, written by hand.
const WEB1_BYTES = String.raw`{"host": "web1.example.com", "ip": "10.0.0.5", "metadata": "{\"version\": \"1.2\"}", "peer": "{\"ip\": \"10.0.0.5\", \"name\": \"web1.example.com\", \"port\": 1024}", "port": 8000}`;

const ZERO = Buffer.alloc(8);

describe('zookeeper discovery: publishing registrations', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  const discoveries: ZookeeperDiscovery[] = [];

  const connected = async (config: Record<string, unknown> = {}, events: Parameters<ZookeeperDiscovery['connect']>[0] = {}): Promise<ZookeeperDiscovery> => {
    const d = createDiscovery({ hosts: zk.hosts, path: BASE, session_timeout_ms: 4000, ...config }, captureLogger().logger);
    discoveries.push(d);
    d.connect(events);
    await waitFor(() => d.state === 'connected', 'the session');
    return d;
  };
  const sessionOf = (d: ZookeeperDiscovery): Buffer => d.session.current().sessionId();

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir();
  });

  after(async () => {
    for (const d of discoveries) await d.close().catch(() => undefined);
    await admin?.close();
    await zk?.stop();
    await dir?.remove();
  });

  test('publish creates an ephemeral node with the exact original bytes under persistent folders', async () => {
    const sessions: string[] = [];
    const d = await connected({}, { onSession: (id) => sessions.push(id) });
    assert.equal(sessions.length, 1, 'onSession fires for the first session');
    assert.equal(sessions[0], sessionOf(d).toString('hex'));

    await d.publish('web', web1);
    const path = `${BASE}/web/web1.example.com:8000`;
    const { data, stat } = await admin.getData(path);
    assert.equal(data.toString('utf8'), WEB1_BYTES);
    assert.ok(stat.ephemeralOwner.equals(sessionOf(d)), 'owned by the publishing session');
    for (const folder of ['/lh', BASE, `${BASE}/web`]) {
      const folderStat = await admin.exists(folder);
      assert.ok(folderStat, `${folder} exists`);
      assert.ok(folderStat.ephemeralOwner.equals(ZERO), `${folder} is persistent`);
    }
    assert.equal(await d.isPublished('web', web1), true);
    assert.equal(await d.isPublished('web', { ...web1, metadata: { version: '9' } }), false);
  });

  test('publishing again is idempotent, and changed metadata replaces the node (so child-list watchers see it)', async () => {
    const d = await connected();
    await d.publish('inplace', web1);
    const path = `${BASE}/inplace/web1.example.com:8000`;
    const first = (await admin.getData(path)).stat;

    await d.publish('inplace', web1);
    const same = (await admin.getData(path)).stat;
    assert.ok(same.mzxid.equals(first.mzxid), 'an identical publish writes nothing');

    const changed = { ...web1, metadata: { version: '1.3' } };
    await d.publish('inplace', changed);
    const { data, stat } = await admin.getData(path);
    assert.ok(!stat.czxid.equals(first.czxid), 're-created: the original writers watch only the child list');
    assert.ok(stat.ephemeralOwner.equals(sessionOf(d)), 'still ours');
    assert.match(data.toString('utf8'), /\\"version\\": \\"1\.3\\"/);
    assert.equal(await d.isPublished('inplace', changed), true);
  });

  test('a node left by a previous session is taken over in one transaction', async () => {
    // A previous run of this machine: another session still owns the znode, with old data.
    const previous = await connectClient(zk.connectString);
    const path = `${BASE}/takeover/web1.example.com:8000`;
    await mkdirs(previous, `${BASE}/takeover`);
    await previous.create(path, originalNodeBytes({ host: 'web1.example.com', ip: '10.0.0.4', port: 8000 }), OPEN_ACL, true);
    const old = (await admin.getData(path)).stat;

    const d = await connected();
    await d.publish('takeover', web1);
    const { data, stat } = await admin.getData(path);
    assert.equal(data.toString('utf8'), WEB1_BYTES);
    assert.ok(stat.ephemeralOwner.equals(sessionOf(d)), 'now owned by our session');
    assert.ok(!stat.czxid.equals(old.czxid), 're-created, so it dies with our session, not the old one');
    assert.equal(await d.isPublished('takeover', web1), true);
    // The old session ending must not take our registration with it.
    await previous.close();
    assert.ok(await admin.exists(path));
  });

  test('multi honours an expected version of 0 (the library would turn it into "any version")', async () => {
    const path = `${BASE}/version0`;
    await admin.create(path, Buffer.from('a'), OPEN_ACL, false);
    await admin.setData(path, Buffer.from('b'), -1); // version 1 now
    await assert.rejects(admin.multi([{ op: 'remove', path, version: 0 }]), (error: unknown) => zkCodeOf(error) === ZkCode.BAD_VERSION);
    assert.ok(await admin.exists(path), 'not deleted');
    await admin.multi([{ op: 'remove', path, version: 1 }]);
    assert.equal(await admin.exists(path), null);
  });

  test('unpublish removes the node, and is fine when it is already gone', async () => {
    const d = await connected();
    await d.publish('gone', web1);
    const path = `${BASE}/gone/web1.example.com:8000`;
    assert.ok(await admin.exists(path));
    await d.unpublish('gone', web1);
    assert.equal(await admin.exists(path), null);
    await d.unpublish('gone', web1);
    await d.unpublish('never-existed', { host: 'x.example.com', port: 1 });
    assert.equal(await d.isPublished('gone', web1), false);
  });

  test('close() removes the ephemeral nodes at once', async () => {
    const d = await connected();
    await d.publish('closing', web1);
    await d.publish('closing', { ...web1, port: 8001 });
    await d.close();
    // No waiting: the session is closed on the server before close() resolves.
    assert.equal(await admin.exists(`${BASE}/closing/web1.example.com:8000`), null);
    assert.equal(await admin.exists(`${BASE}/closing/web1.example.com:8001`), null);
    assert.equal(d.state, 'closed');
  });

  test('a registration deleted by someone else is reported through onLost', async () => {
    const lost: string[] = [];
    const d = await connected({}, { onLost: (service, key) => lost.push(`${service}/${key}`) });
    await d.publish('lost', web1);
    await d.publish('lost', { ...web1, metadata: { version: '2' } }); // our own update is not a loss
    await admin.remove(`${BASE}/lost/web1.example.com:8000`, -1);
    await waitFor(() => lost.length > 0, 'onLost');
    assert.deepEqual(lost, ['lost/web1.example.com:8000']);
    // Republishing (the reporter's decision) brings it back; unpublishing stops the reports.
    await d.publish('lost', web1);
    await d.unpublish('lost', web1);
    assert.deepEqual(lost, ['lost/web1.example.com:8000']);
  });

  test('invalid service names and node keys are refused, naming the znode', async () => {
    const d = await connected();
    await assert.rejects(d.publish('../etc', web1), (error: unknown) => error instanceof LighthouseError && /\.\.\/etc/.test(error.message));
    await assert.rejects(d.publish('web', { ...web1, host: 'a/b' }), LighthouseError);
  });

  describe('with digest auth', () => {
    const credentials = { user: 'lighthouse', password: 's3cret' };
    const digest = `${credentials.user}:${createHash('sha1').update(`${credentials.user}:${credentials.password}`).digest('base64')}`;

    test('an unauthenticated client can read but cannot delete, overwrite or add registrations', async () => {
      const d = await connected({ path: '/secure/services', auth: { scheme: 'digest', ...credentials } });
      await d.publish('web', web1);
      const path = '/secure/services/web/web1.example.com:8000';

      // ZooKeeper masks digest hashes in getACL for clients without ADMIN rights: read as the owner.
      const owner = await connectClient(zk.connectString, { auth: `${credentials.user}:${credentials.password}` });
      for (const znode of ['/secure', '/secure/services', '/secure/services/web', path]) {
        const acl = await owner.getAcl(znode);
        const entries = acl.map((entry) => `${entry.scheme}:${entry.id}=${entry.perms}`).sort();
        assert.deepEqual(entries, [`digest:${digest}=31`, 'world:anyone=1'], znode);
      }
      await owner.close();
      assert.equal((await admin.getData(path)).data.toString('utf8'), WEB1_BYTES, 'the world can read');
      await assert.rejects(admin.remove(path, -1), (error: unknown) => zkCodeOf(error) === ZkCode.NO_AUTH);
      await assert.rejects(admin.setData(path, Buffer.from('{}'), -1), (error: unknown) => zkCodeOf(error) === ZkCode.NO_AUTH);
      await assert.rejects(admin.create('/secure/services/web/evil.example.com:80', Buffer.from('{}'), OPEN_ACL, true), (error: unknown) => zkCodeOf(error) === ZkCode.NO_AUTH);
      await assert.rejects(admin.remove('/secure/services/web', -1), (error: unknown) => [ZkCode.NO_AUTH, ZkCode.NOT_EMPTY].includes(zkCodeOf(error) as -102));
      assert.ok(await admin.exists(path));

      // Another reporter with the same credentials (a restarted machine) can take the node over.
      const other = await connected({ path: '/secure/services', auth: { scheme: 'digest', ...credentials } });
      await other.publish('web', { ...web1, metadata: { version: '2' } });
      assert.ok((await admin.getData(path)).stat.ephemeralOwner.equals(sessionOf(other)));
    });

    test('credentials can come from a secrets file', async () => {
      const secrets = join(dir.path, 'zk-secrets');
      await writeFile(secrets, `${credentials.user}:${credentials.password}\n`, { mode: 0o600 });
      const d = await connected({ path: '/secure/services', auth: { scheme: 'digest', secrets_file: secrets } });
      await d.publish('files', web1);
      const path = '/secure/services/files/web1.example.com:8000';
      assert.ok((await admin.getData(path)).stat.ephemeralOwner.equals(sessionOf(d)));
      await assert.rejects(admin.remove(path, -1), (error: unknown) => zkCodeOf(error) === ZkCode.NO_AUTH);
    });

    test('a missing secrets file is a config error naming the file and setting', () => {
      assert.throws(
        () => createDiscovery({ hosts: zk.hosts, path: BASE, auth: { scheme: 'digest', secrets_file: join(dir.path, 'missing') } }),
        (error: unknown) => error instanceof LighthouseError && error.code === 'LH_CONFIG_INVALID' && /auth\.secrets_file/.test(error.message),
      );
    });
  });
});
