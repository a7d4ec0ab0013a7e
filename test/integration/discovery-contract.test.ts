import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, type Backend } from '../support/backends.js';
import { MemberLog, originalNodeBytes, type OriginalNode } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import type { SessionState } from '../../src/discovery/types.js';
import { sleep } from '../../src/lib/deadline.js';

/**
 * The behaviour the writer and the reporter rely on, run unchanged against
 * every discovery backend, each a real server started here. A backend that
 * passes this suite can replace ZooKeeper without the core noticing.
 */

const BASE = '/lighthouse/contract';

const original = (host: string, port: number, ip = '10.0.0.5', metadataJson = '{}'): OriginalNode => ({ host, ip, port, metadataJson, peer: { ip, name: host, port: 1024 } });

const me = (port: number, metadata: ClusterNode['metadata'] = {}): ClusterNode => ({
  host: 'me.example.com',
  ip: '10.1.1.1',
  port,
  metadata,
  peer: { ip: '10.1.1.1', name: 'me.example.com', port: 1024 },
});

for (const kind of ['zookeeper', 'etcd'] as const) {
  describe(`discovery contract: ${kind}`, () => {
    let backend: Backend;

    before(async () => {
      backend = await startBackend(kind, BASE);
    });

    after(async () => {
      await backend?.stop();
    });

    /** A connected reporter-side discovery and the sessions it has announced. */
    const reporter = async (options: Parameters<Backend['discovery']>[0] = {}) => {
      const sessions: string[] = [];
      const states: SessionState[] = [];
      const lost: string[] = [];
      const discovery = backend.discovery(options);
      discovery.connect({
        onSession: (id) => sessions.push(id),
        onStateChange: (state) => states.push(state),
        onLost: (service, key) => lost.push(`${service}/${key}`),
      });
      await waitFor(() => sessions.length === 1, `the first ${kind} session`);
      return { discovery, sessions, states, lost };
    };

    /** A writer-side discovery watching one cluster. */
    const watcher = (cluster: string, options: Parameters<Backend['discovery']>[0] = {}) => {
      const discovery = backend.discovery(options);
      discovery.connect();
      const log = new MemberLog();
      discovery.watch(cluster, log.onMembers);
      return { discovery, log };
    };

    test('publish: a watch sees the node decoded, stored as the exact bytes of the original wire format', async () => {
      const { discovery } = await reporter();
      const { log } = watcher('pub');
      await log.waitForKeys([]);
      const node = me(8080, { version: '1.2', zone: 'b' });

      await discovery.publish('pub', node);
      const set = await log.waitForKeys(['me.example.com:8080']);
      assert.deepEqual(set.members[0], node);
      assert.deepEqual(set.rejected, []);
      const expected = originalNodeBytes({ ...original('me.example.com', 8080, '10.1.1.1', '{"version": "1.2", "zone": "b"}') });
      assert.deepEqual(await backend.read('pub', 'me.example.com:8080'), expected);
      assert.equal(await discovery.isPublished('pub', node), true);
      assert.equal(await discovery.isPublished('pub', me(8080, { version: '1.3' })), false, 'other data is not "published"');

      // Idempotent: publishing the same node again changes nothing, not even its owner.
      const owner = await backend.owner('pub', 'me.example.com:8080');
      const setsBefore = log.sets.length;
      await discovery.publish('pub', node);
      assert.equal(await backend.owner('pub', 'me.example.com:8080'), owner);
      assert.equal(log.sets.length, setsBefore);

      // Changed metadata is an update of the same registration.
      await discovery.publish('pub', me(8080, { version: '1.3' }));
      await log.waitFor((s) => s.members[0]?.metadata.version === '1.3', 'the updated metadata');
      assert.equal(await backend.owner('pub', 'me.example.com:8080'), owner);
    });

    test('unpublish: the registration is gone and the watch sees it go; unpublishing again is fine', async () => {
      const { discovery } = await reporter();
      const { log } = watcher('unpub');
      await discovery.publish('unpub', me(80));
      await discovery.publish('unpub', me(81));
      await log.waitForKeys(['me.example.com:80', 'me.example.com:81']);

      await discovery.unpublish('unpub', me(80));
      await log.waitForKeys(['me.example.com:81']);
      assert.equal(await backend.read('unpub', 'me.example.com:80'), undefined);
      assert.equal(await discovery.isPublished('unpub', me(80)), false);
      await discovery.unpublish('unpub', me(80));
      assert.equal(await discovery.isPublished('unpub', me(81)), true);
    });

    test('watch: nodes written by other machines in the original format are added, changed and removed', async () => {
      await backend.write('web', 'web1.example.com:8000', originalNodeBytes(original('web1.example.com', 8000, '10.0.0.5', '{"version": "1.2"}')));
      const { log } = watcher('web');
      const first = await log.waitForKeys(['web1.example.com:8000']);
      assert.deepEqual(first.members[0], {
        host: 'web1.example.com',
        ip: '10.0.0.5',
        port: 8000,
        metadata: { version: '1.2' },
        peer: { ip: '10.0.0.5', name: 'web1.example.com', port: 1024 },
      });

      await backend.write('web', 'web2.example.com:8000', originalNodeBytes(original('web2.example.com', 8000, '10.0.0.6')));
      await log.waitForKeys(['web1.example.com:8000', 'web2.example.com:8000']);
      await backend.write('web', 'web1.example.com:8000', originalNodeBytes(original('web1.example.com', 8000, '10.0.0.7')));
      await log.waitFor((s) => s.members.find((m) => m.host === 'web1.example.com')?.ip === '10.0.0.7', 'the data change');
      await backend.remove('web', 'web2.example.com:8000');
      const last = await log.waitForKeys(['web1.example.com:8000']);
      assert.equal(last.members[0]!.ip, '10.0.0.7');
    });

    test('a cluster that does not exist yet: an empty set at once, its nodes as soon as they appear', async () => {
      const { log } = watcher('late');
      await log.waitForKeys([]);
      await backend.write('late', 'l1.example.com:80', originalNodeBytes(original('l1.example.com', 80)));
      await log.waitForKeys(['l1.example.com:80']);
    });

    test('hostile data is rejected, with the reason, while good nodes still arrive', async () => {
      const deep = `${'{"a": '.repeat(100)}1${'}'.repeat(100)}`;
      const hostile: Record<string, Buffer | string> = {
        'bad1.example.com:80': '{"host": "evil\\n  server x 6.6.6.6:80", "ip": "10.0.0.1", "port": 80}',
        'bad2.example.com:70000': originalNodeBytes(original('bad2.example.com', 70000)),
        'bad3.example.com:80': 'not json {',
        'bad4.example.com:80': '{"host": "bad4.example.com", "port": 80}',
        'bad5.example.com:80': originalNodeBytes(original('bad 5.example.com', 80)),
        'bad6.example.com:80': originalNodeBytes(original('bad6.example.com', 80, '10.0.0.6', deep)),
        'bad7.example.com:80': Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
        'bad8.example.com:80': '{"host": "bad8.example.com", "ip": "10.0.0.8; rm -rf /", "port": 80}',
      };
      for (const [name, data] of Object.entries(hostile)) await backend.write('hostile', name, data);
      await backend.write('hostile', 'good1.example.com:80', originalNodeBytes(original('good1.example.com', 80)));
      const { log } = watcher('hostile');
      const set = await log.waitForKeys(['good1.example.com:80']);
      assert.equal(set.rejected.length, Object.keys(hostile).length);
      for (const name of Object.keys(hostile)) {
        const rejection = set.rejected.find((r) => r.znode.endsWith(`/hostile/${name}`));
        assert.ok(rejection, `${name} is rejected`);
        assert.ok(rejection.reason.length > 0);
      }
      // The cluster keeps updating around the bad nodes.
      await backend.write('hostile', 'good2.example.com:80', originalNodeBytes(original('good2.example.com', 80)));
      const next = await log.waitForKeys(['good1.example.com:80', 'good2.example.com:80']);
      assert.equal(next.rejected.length, Object.keys(hostile).length);
    });

    test('a registration deleted by someone else is reported through onLost', async () => {
      const { discovery, lost } = await reporter();
      await discovery.publish('lost', me(80));
      await backend.remove('lost', 'me.example.com:80');
      await waitFor(() => lost.includes('lost/me.example.com:80'), 'onLost');
      assert.equal(await discovery.isPublished('lost', me(80)), false);
      await discovery.publish('lost', me(80));
      assert.equal(await discovery.isPublished('lost', me(80)), true);
    });

    test('close() removes every registration at once, without waiting for a timeout', async () => {
      const { discovery } = await reporter();
      await discovery.publish('closing', me(80));
      await discovery.publish('closing', me(81));
      assert.ok(await backend.read('closing', 'me.example.com:80'));
      await discovery.close();
      assert.equal(await backend.read('closing', 'me.example.com:80'), undefined);
      assert.equal(await backend.read('closing', 'me.example.com:81'), undefined);
    });

    test('outage: while the server is down nothing is reported (members are not emptied); after a restart everything works again', async () => {
      await backend.write('outage', 'a.example.com:80', originalNodeBytes(original('a.example.com', 80)));
      const { discovery: writer, log } = watcher('outage');
      await log.waitForKeys(['a.example.com:80']);
      const { discovery } = await reporter();
      await discovery.publish('outage-svc', me(80));
      const setsBefore = log.sets.length;

      await backend.kill();
      await waitFor(() => writer.state !== 'connected' && discovery.state !== 'connected', 'both clients to notice the outage', 15_000);
      await assert.rejects(discovery.publish('outage-svc', me(81)), 'a write while the server is down fails (the reporter retries it)');
      // An observation window, not a timing assertion: nothing may be reported during it.
      await sleep(1500);
      assert.equal(log.sets.length, setsBefore, 'no member callbacks while the server is down');
      assert.deepEqual(log.keys(), ['a.example.com:80']);

      await backend.restart();
      await backend.write('outage', 'b.example.com:80', originalNodeBytes(original('b.example.com', 80)));
      await log.waitForKeys(['a.example.com:80', 'b.example.com:80'], 20_000);
      await waitFor(() => discovery.publish('outage-svc', me(81)).then(() => true), 'a publish after the restart', 20_000, 100);
      assert.equal(await discovery.isPublished('outage-svc', me(81)), true);
      assert.equal(await discovery.isPublished('outage-svc', me(80)), true, 'the registration made before the outage survived it');
    });

    test('partition: changes made while a watcher is cut off all arrive once it is back', async () => {
      const relay = await backend.relay();
      await backend.write('part', 'a.example.com:80', originalNodeBytes(original('a.example.com', 80)));
      await backend.write('part', 'b.example.com:80', originalNodeBytes(original('b.example.com', 80)));
      const { log } = watcher('part', { via: relay });
      await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);
      const setsBefore = log.sets.length;

      relay.cut();
      await backend.remove('part', 'a.example.com:80');
      await backend.write('part', 'b.example.com:80', originalNodeBytes(original('b.example.com', 80, '10.9.9.9')));
      for (const host of ['c', 'd', 'e']) await backend.write('part', `${host}.example.com:80`, originalNodeBytes(original(`${host}.example.com`, 80)));
      await backend.remove('part', 'e.example.com:80');
      assert.equal(log.sets.length, setsBefore, 'nothing reported while cut off');

      relay.restore();
      const set = await log.waitForKeys(['b.example.com:80', 'c.example.com:80', 'd.example.com:80'], 20_000);
      assert.equal(set.members.find((m) => m.host === 'b.example.com')!.ip, '10.9.9.9');
    });

    test('session/lease loss: the server drops our registrations, onSession fires again, and publishing and watching work again', async () => {
      const relay = await backend.relay();
      const { discovery, sessions, states } = await reporter({ via: relay, short: true });
      await backend.write('loss', 'x.example.com:80', originalNodeBytes(original('x.example.com', 80)));
      const log = new MemberLog();
      discovery.watch('loss', log.onMembers);
      await log.waitForKeys(['x.example.com:80']);
      await discovery.publish('loss-svc', me(80));
      const firstOwner = await backend.owner('loss-svc', 'me.example.com:80');
      assert.ok(firstOwner);

      relay.cut();
      // The server expiring the session (or lease) deletes our registration: that is the loss.
      await waitFor(async () => (await backend.owner('loss-svc', 'me.example.com:80')) === undefined, 'the server to drop the registration', 15_000, 100);
      relay.restore();
      await waitFor(() => sessions.length === 2, 'a new session', 20_000);
      assert.notEqual(sessions[1], sessions[0]);
      assert.ok(states.includes('expired'), `states: ${states.join(',')}`);
      assert.equal(await discovery.isPublished('loss-svc', me(80)), false, 'the old registration is not ours any more');

      // What the reporter does on onSession: publish again.
      await waitFor(() => discovery.publish('loss-svc', me(80)).then(() => true), 'a publish in the new session', 10_000, 100);
      const secondOwner = await backend.owner('loss-svc', 'me.example.com:80');
      assert.ok(secondOwner && secondOwner !== firstOwner, 'registered again, by the new session');
      assert.equal(await discovery.isPublished('loss-svc', me(80)), true);
      await backend.write('loss', 'y.example.com:80', originalNodeBytes(original('y.example.com', 80)));
      await log.waitForKeys(['x.example.com:80', 'y.example.com:80']);
    });
  });
}
