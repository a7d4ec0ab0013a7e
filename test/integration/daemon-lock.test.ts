import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { haproxyYaml, writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { backendsReached, startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

/**
 * Issue #11.7: two writers on one config dir raced on the HAProxy candidate
 * file and the second looped forever on "port in use". Real daemons, a real
 * ZooKeeper and HAProxy: the second writer (and a second reporter) refuses
 * to start naming the first's PID, the first keeps working, and after the
 * first is SIGKILLed a new one takes the lock over.
 */

const BASE = '/lighthouse/lock';

describe('one writer and one reporter per config dir', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let backends: HttpBackend[];
  let webPort: number;
  const daemons: DaemonProcess[] = [];
  const config = (): string => join(dir.path, 'config');
  const logOf = (name: string): string => join(dir.path, `${name}.log`);
  const read = (name: string): string => (existsSync(logOf(name)) ? readFileSync(logOf(name), 'utf8') : '');
  const daemon = (command: 'writer' | 'reporter', name: string, args: string[] = []): DaemonProcess => {
    const started = startDaemon(command, config(), logOf(name), args);
    daemons.push(started);
    return started;
  };
  const node = (backend: HttpBackend) => ({ host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port });

  before(async () => {
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-lock-');
    backends = await startHttpBackends('web', 3);
    webPort = await freePort();
    await writeConfig(config(), {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, BASE, 'advertise:\n  host: lock.test\n  ip: 127.0.0.1\n'),
      'balancers/haproxy.yaml': haproxyYaml(join(dir.path, 'run')),
      'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n`,
      'services/web.yaml': `discovery: zookeeper\nports: [${backends[0]!.port}]\nchecks:\n  interval: 0.5\n  tcp: { rise: 1, fall: 1 }\n`,
    });
  });

  after(async () => {
    await Promise.all(daemons.map((started) => started.stop()));
    await killHaproxy(join(dir.path, 'run', 'haproxy.pid'));
    await client?.close();
    await zk?.stop();
    await Promise.all((backends ?? []).map((backend) => backend.close()));
    await dir?.remove();
  });

  test('a second writer exits non-zero naming the first\'s PID; the first keeps working; after SIGKILL a new one takes over', { timeout: 180_000 }, async (t) => {
    try {
      const first = daemon('writer', 'writer-1');
      await writeOriginalNode(client, BASE, 'web', node(backends[0]!));
      await waitFor(async () => (await backendsReached(webPort, 4).catch(() => new Set<string>())).has('web1'), 'the first writer to route web1', 60_000, 200);

      const second = daemon('writer', 'writer-2');
      const code = await second.exited;
      assert.notEqual(code, 0, 'the second writer does not run');
      assert.match(read('writer-2'), new RegExp(`LH_DIR_LOCKED: .*writer\\.lock: already locked by writer PID ${first.pid}\\b.*another writer runs on`));
      assert.doesNotMatch(read('writer-2'), /ENOENT|address already in use/i, 'it never got as far as HAProxy');

      // The first still drives HAProxy.
      await writeOriginalNode(client, BASE, 'web', node(backends[1]!));
      await waitFor(async () => (await backendsReached(webPort, 8).catch(() => new Set<string>())).has('web2'), 'the first writer to route web2 after the refused start', 30_000, 200);
      assert.equal(first.child.exitCode, null, 'the first writer still runs');

      first.signal('SIGKILL');
      await first.exited;
      assert.ok(existsSync(join(config(), '.state', 'writer.lock')), 'SIGKILL leaves the lock file behind');
      daemon('writer', 'writer-3');
      await waitFor(() => read('writer-3').includes(`taking over the lock of writer PID ${first.pid}`), 'the new writer to take the dead one\'s lock over', 30_000, 100);
      await writeOriginalNode(client, BASE, 'web', node(backends[2]!));
      await waitFor(async () => (await backendsReached(webPort, 12).catch(() => new Set<string>())).has('web3'), 'the new writer to route web3', 60_000, 200);
    } catch (error) {
      for (const name of ['writer-1', 'writer-2', 'writer-3']) t.diagnostic(`${name}:\n${read(name).slice(-4000)}`);
      throw error;
    }
  });

  test('a writer stopped cleanly removes its lock', { timeout: 60_000 }, async () => {
    const running = daemons.find((started) => started.child.exitCode === null && started.child.signalCode === null);
    assert.ok(running, 'the writer of the previous test runs');
    assert.equal(await running.stop(), 0);
    assert.equal(existsSync(join(config(), '.state', 'writer.lock')), false);
  });

  test('a second reporter exits non-zero naming the first\'s PID; the writer and reporter of one dir do not exclude each other', { timeout: 120_000 }, async (t) => {
    try {
      const writer = daemon('writer', 'writer-4');
      const first = daemon('reporter', 'reporter-1');
      await waitFor(async () => {
        try {
          return (await client.getData(`${BASE}/web/lock.test:${backends[0]!.port}`)).data.length > 0;
        } catch {
          return false;
        }
      }, 'the first reporter to register', 60_000, 200);
      const second = daemon('reporter', 'reporter-2');
      assert.notEqual(await second.exited, 0);
      assert.match(read('reporter-2'), new RegExp(`LH_DIR_LOCKED: .*reporter\\.lock: already locked by reporter PID ${first.pid}\\b`));
      assert.equal(first.child.exitCode, null, 'the first reporter still runs');
      assert.equal(writer.child.exitCode, null, 'the writer runs next to the reporter');
    } catch (error) {
      for (const name of ['writer-4', 'reporter-1', 'reporter-2']) t.diagnostic(`${name}:\n${read(name).slice(-4000)}`);
      throw error;
    }
  });

  test('two writers started at the same moment: exactly one runs, the other names it', { timeout: 120_000 }, async (t) => {
    await Promise.all(daemons.map((started) => started.stop()));
    const pair = [daemon('writer', 'writer-a'), daemon('writer', 'writer-b')];
    try {
      const loser = await Promise.race(pair.map((started, index) => started.exited.then(() => index)));
      const winner = pair[1 - loser]!;
      assert.notEqual(pair[loser]!.child.exitCode, 0);
      assert.match(read(loser === 0 ? 'writer-a' : 'writer-b'), new RegExp(`already locked by writer PID ${winner.pid}\\b`));
      await writeOriginalNode(client, BASE, 'web', node(backends[0]!), 'again');
      await waitFor(async () => (await backendsReached(webPort, 8).catch(() => new Set<string>())).size > 0, 'the winner to serve', 60_000, 200);
      assert.equal(winner.child.exitCode, null, 'the winner still runs');
    } catch (error) {
      for (const name of ['writer-a', 'writer-b']) t.diagnostic(`${name}:\n${read(name).slice(-4000)}`);
      throw error;
    }
  });

  test('a second writer with another --state-dir on the same HAProxy exits naming the first; the first keeps working', { timeout: 120_000 }, async (t) => {
    const first = daemons.find((started) => started.child.exitCode === null && started.child.signalCode === null);
    assert.ok(first, 'a writer of the previous test runs');
    const second = daemon('writer', 'writer-other-state', ['--state-dir', join(dir.path, 'other-state')]);
    try {
      // Given a while to get as far as HAProxy: a writer that is let run never exits by itself.
      const code = await Promise.race([second.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 30_000).unref())]);
      assert.notEqual(code, 'running', 'the second writer does not run');
      assert.notEqual(code, 0);
      assert.match(read('writer-other-state'), new RegExp(`LH_DIR_LOCKED: .*haproxy\\.cfg\\.lock: already locked by writer PID ${first.pid}\\b.*another writer drives the HAProxy of`));
      assert.equal(first.child.exitCode, null, 'the first writer still runs');
      assert.ok((await backendsReached(webPort, 8)).size > 0, 'and HAProxy serves');
    } catch (error) {
      for (const name of ['writer-a', 'writer-b', 'writer-other-state']) t.diagnostic(`${name}:\n${read(name).slice(-4000)}`);
      throw error;
    }
  });

  test('a HAProxy lock file that cannot be written is a warning: the writer still drives HAProxy', { timeout: 120_000 }, async (t) => {
    await Promise.all(daemons.map((started) => started.stop()));
    // A folder where the lock file should be: neither created nor read, as on a full or read-only disk.
    await mkdir(join(dir.path, 'run', 'haproxy.cfg.lock'), { recursive: true });
    const writer = daemon('writer', 'writer-lock-unwritable');
    try {
      await waitFor(() => /haproxy\.cfg\.lock: cannot take the lock: .*running without it/.test(read('writer-lock-unwritable')), 'the warning', 60_000, 200);
      await writeOriginalNode(client, BASE, 'web', node(backends[2]!), 'unwritable-lock');
      await waitFor(async () => (await backendsReached(webPort, 8).catch(() => new Set<string>())).size > 0, 'the writer to serve', 60_000, 200);
      assert.equal(writer.child.exitCode, null, 'the writer runs');
    } catch (error) {
      t.diagnostic(read('writer-lock-unwritable').slice(-4000));
      throw error;
    } finally {
      await writer.stop();
      await rm(join(dir.path, 'run', 'haproxy.cfg.lock'), { recursive: true, force: true });
    }
  });

  test('a state dir that cannot be written: a clear error, exit 1', { timeout: 60_000 }, async () => {
    // /sys refuses mkdir even to root.
    const writer = daemon('writer', 'writer-ro', ['--state-dir', '/sys/lighthouse-test-state']);
    assert.equal(await writer.exited, 1);
    assert.match(read('writer-ro'), /LH_DIR_LOCKED: \/sys\/lighthouse-test-state\/writer\.lock: cannot take the lock: .*must be writable/);
  });
});
