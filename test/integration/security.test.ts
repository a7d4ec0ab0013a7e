import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestId } from '../../src/discovery/zookeeper/acl.js';
import { OPEN_ACL, Permission, type ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { ZkCode, zkCodeOf } from '../../src/discovery/zookeeper/zk-errors.js';
import { haproxyYaml, writeAtomic } from '../support/chaos.js';
import { httpGet } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient } from '../support/zookeeper.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Security, end to end with the real daemons: ZooKeeper digest auth (the
 * reporters' registrations and folders can only be changed with their
 * credentials, writers read without any), HAProxy's admin and master
 * sockets readable by their owner only, and the stats page behind `auth`
 * on its own `bind_address`.
 */

const CREDENTIALS = { user: 'lighthouse', password: 'correct-horse' };

let stack: ChaosStack;
let anonymous: ZkClient;
let stranger: ZkClient;

before(async () => {
  // Reporters authenticate; the writer has no credentials at all.
  stack = await ChaosStack.start({ reporters: [1, 1], reporterAuth: CREDENTIALS });
  anonymous = await connectClient(stack.zk.connectString);
  stranger = await connectClient(stack.zk.connectString, { auth: 'mallory:guess' });
});

after(async () => {
  await anonymous?.close();
  await stranger?.close();
  await stack?.stop();
});

const codeOf = async (operation: Promise<unknown>): Promise<number | undefined> => {
  try {
    await operation;
    return 0;
  } catch (error) {
    return zkCodeOf(error);
  }
};

test('registrations and every folder above them carry the reporters\' digest ACL (+ world read)', async () => {
  const expected = [
    { perms: Permission.ALL, scheme: 'digest', id: digestId(CREDENTIALS) },
    { perms: Permission.READ, scheme: 'world', id: 'anyone' },
  ];
  const [registration] = await stack.registrations();
  for (const path of ['/lighthouse', stack.basePath, stack.servicePath, `${stack.servicePath}/${registration}`]) {
    // With the credentials (ADMIN right) the digest is shown unmasked.
    assert.deepEqual(await stack.admin.getAcl(path), expected, path);
  }
});

test('a client without the credentials cannot delete, overwrite or add registrations', async () => {
  const registered = await stack.registrations();
  assert.equal(registered.length, 2);
  for (const client of [anonymous, stranger]) {
    for (const name of registered) {
      const path = `${stack.servicePath}/${name}`;
      assert.equal(await codeOf(client.remove(path, -1)), ZkCode.NO_AUTH, `delete ${path}`);
      assert.equal(await codeOf(client.setData(path, Buffer.from('{"host": "evil.test", "ip": "6.6.6.6", "port": 80}'), -1)), ZkCode.NO_AUTH, `overwrite ${path}`);
      assert.equal(await codeOf(client.getData(path)), 0, `but it can read ${path}`);
    }
    assert.equal(await codeOf(client.create(`${stack.servicePath}/evil.test:80`, Buffer.from('{}'), OPEN_ACL, true)), ZkCode.NO_AUTH, 'add a fake member');
    assert.equal(await codeOf(client.create(`${stack.basePath}/evil`, Buffer.alloc(0), OPEN_ACL, false)), ZkCode.NO_AUTH, 'add a service folder');
  }
  assert.deepEqual(await stack.registrations(), registered);
  // The writer, without credentials, reads and routes all of them.
  await stack.waitConverged();
});

test('credentials from a secrets file work the same', async () => {
  const b = stack.reporters[1]!;
  const secrets = join(stack.dir.path, 'zk-secrets');
  await writeFile(secrets, `${CREDENTIALS.user}:${CREDENTIALS.password}\n`, { mode: 0o600 });
  const yaml = [`hosts: [${stack.zk.hosts.map((host) => `"${host}"`).join(', ')}]`, `path: ${stack.basePath}`, 'session_timeout_ms: 2000', 'auth:', '  scheme: digest', `  secrets_file: ${secrets}`, ''].join('\n');
  await b.process.stop();
  await writeAtomic(join(b.dir, 'discovery', 'zk.yaml'), `plugin: zookeeper\n${yaml}`);
  stack.restartReporter(b);
  await stack.waitConverged();
  const path = `${stack.servicePath}/${b.host}:${b.backends[0]!.port}`;
  assert.equal(await codeOf(anonymous.remove(path, -1)), ZkCode.NO_AUTH);
});

test('wrong credentials: the reporter reports the refusal, keeps running and registers nothing', async () => {
  const b = stack.reporters[1]!;
  const path = `${stack.servicePath}/${b.host}:${b.backends[0]!.port}`;
  await b.process.stop();
  await waitFor(async () => (await codeOf(stack.admin.getData(path))) === ZkCode.NO_NODE, 'the stopped reporter to deregister');
  const yaml = [`hosts: [${stack.zk.hosts.map((host) => `"${host}"`).join(', ')}]`, `path: ${stack.basePath}`, 'session_timeout_ms: 2000', 'auth:', '  scheme: digest', '  user: lighthouse', '  password: wrong', ''].join('\n');
  await writeAtomic(join(b.dir, 'discovery', 'zk.yaml'), `plugin: zookeeper\n${yaml}`);
  stack.restartReporter(b);
  await b.process.waitForLog((line) => /NoAuth|NO_AUTH|not authorized|-102/i.test(JSON.stringify(line)), 'the reporter to report the refusal');
  assert.equal(await codeOf(stack.admin.getData(path)), ZkCode.NO_NODE, 'nothing registered with the wrong identity');
  assert.ok(b.process.alive, 'the reporter keeps running (and retrying)');
  await b.process.stop();
});

test('HAProxy admin socket and master socket are mode 600', async () => {
  const admin = await stat(stack.adminSocketPath);
  const master = await stat(join(stack.writerDir, 'haproxy', 'haproxy-master.sock'));
  assert.ok(admin.isSocket() && master.isSocket());
  assert.equal(admin.mode & 0o777, 0o600, 'admin socket');
  assert.equal(master.mode & 0o777, 0o600, 'master socket');
});

test('the stats page answers only with its auth, on its bind_address', async () => {
  const [statsPort] = (await freePorts(1)) as [number];
  await writeAtomic(join(stack.writerDir, 'balancers', 'haproxy.yaml'), haproxyYaml(stack.writerDir, ['stats:', `  port: ${statsPort}`, '  uri: /stats', '  auth: "admin:s3cret"', '  bind_address: 127.0.0.1']));
  await waitFor(async () => (await httpGet(statsPort, '/stats').catch(() => ({ status: 0 }))).status !== 0, 'the stats listener');
  const config = await stack.haproxyConfig();
  assert.match(config, new RegExp(`listen stats\\n(?:.*\\n)*?\\s+bind 127\\.0\\.0\\.1:${statsPort}\\n`), 'bound to the configured address only');
  assert.match(config, /stats auth admin:s3cret/);
  assert.equal((await httpGet(statsPort, '/stats')).status, 401, 'no credentials');
  assert.equal((await httpGet(statsPort, '/stats', { Authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` })).status, 401, 'wrong password');
  const ok = await httpGet(statsPort, '/stats', { Authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}` });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /Statistics Report/);
  // And the cluster kept being served through the reload.
  await stack.waitConverged();
});
