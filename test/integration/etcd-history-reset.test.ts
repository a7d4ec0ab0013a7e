import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { EtcdServer, createEtcdDiscovery } from '../support/etcd.js';
import { captureLogger, MemberLog, originalNodeBytes, TcpRelay } from '../support/zookeeper.js';
import type { EtcdDiscovery } from '../../src/discovery/etcd/plugin.js';

const PREFIX = '/lighthouse/etcd';
const node = (host: string) => originalNodeBytes({ host, ip: '10.0.0.5', port: 80, metadataJson: '{}', peer: null });

/**
 * #19.3, the etcd discovery's own watch: the history under a watch is
 * replaced. The watch must not resume from its old revision in the new
 * history (changes at lower revisions would never be delivered, deleted
 * keys would stay); it re-reads, logs it once, and watches on.
 */
describe('etcd history replaced under a watch', () => {
  let first: EtcdServer;
  let second: EtcdServer;
  let admins: Etcd3[] = [];
  let relay: TcpRelay;
  const discoveries: EtcdDiscovery[] = [];

  before(async () => {
    [first, second] = await Promise.all([EtcdServer.start(), EtcdServer.start()]);
    admins = [first.client(), second.client()];
    relay = await TcpRelay.start(first.clientPort);
  });

  after(async () => {
    for (const discovery of discoveries) await discovery.close().catch(() => undefined);
    for (const admin of admins) admin.close();
    await relay?.close();
    await first?.stop();
    await second?.stop();
  });

  test('another etcd cluster behind the same address, further in its revisions: read again in full, logged once', async () => {
    const [one, two] = admins as [Etcd3, Etcd3];
    // First cluster: the watch's last revision ends up around 40.
    for (let i = 0; i < 40; i += 1) await one.put('/elsewhere').value(String(i));
    await one.put(`${PREFIX}/web/a.example.com:80`).value(node('a.example.com'));
    await one.put(`${PREFIX}/api/x.example.com:80`).value(node('x.example.com'));
    // Second cluster: its members were written at revisions below that, and it is now past it.
    await two.put(`${PREFIX}/web/b.example.com:80`).value(node('b.example.com'));
    for (let i = 0; i < 80; i += 1) await two.put('/elsewhere').value(String(i));

    const capture = captureLogger('debug');
    const discovery = createEtcdDiscovery({ endpoints: [`http://${relay.address}`], prefix: PREFIX, lease_ttl: 4, operation_timeout_ms: 2000 }, capture.logger);
    discoveries.push(discovery);
    discovery.connect();
    const web = new MemberLog();
    const api = new MemberLog();
    discovery.watch('web', web.onMembers);
    discovery.watch('api', api.onMembers);
    await web.waitForKeys(['a.example.com:80']);
    await api.waitForKeys(['x.example.com:80']);

    relay.retarget(second.clientPort);
    relay.cut();
    relay.restore();

    await web.waitForKeys(['b.example.com:80'], 20_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(capture.lines().map((line) => line.msg))}`);
    });
    await api.waitForKeys([], 20_000);
    // And it watches on in the new history.
    await two.put(`${PREFIX}/web/c.example.com:80`).value(node('c.example.com'));
    await web.waitForKeys(['b.example.com:80', 'c.example.com:80']);
    const warnings = capture.lines().filter((line) => line.code === 'LH_ETCD_HISTORY_LOST' && line.level === 40);
    assert.equal(warnings.length, 1, JSON.stringify(capture.lines().filter((line) => line.code === 'LH_ETCD_HISTORY_LOST')));
    assert.match(String(warnings[0]!.msg), /another cluster/);
  });

  test('the same etcd restarted without its data (same cluster id), past the old revision before the watch is back: read again in full', async () => {
    // An etcd started again with the same flags and an empty data dir has the same cluster id
    // (derived from its peer URLs and cluster token): only the history itself can tell.
    const relayed = await TcpRelay.start(first.clientPort);
    try {
      const before = first.client();
      await before.put(`${PREFIX}/web/a.example.com:80`).value(node('a.example.com'));
      for (let i = 0; i < 20; i += 1) await before.put('/elsewhere').value(String(i));
      const { cluster_id: clusterBefore, revision: revisionBefore } = (await before.get('/elsewhere').exec()).header;
      before.close();

      const capture = captureLogger('debug');
      const discovery = createEtcdDiscovery({ endpoints: [`http://${relayed.address}`], prefix: PREFIX, lease_ttl: 4, operation_timeout_ms: 2000 }, capture.logger);
      discoveries.push(discovery);
      discovery.connect();
      const web = new MemberLog();
      discovery.watch('web', web.onMembers);
      await web.waitForKeys(['a.example.com:80']);

      relayed.cut();
      await first.restartWithoutData();
      const after = first.client();
      admins.push(after);
      await after.put(`${PREFIX}/web/b.example.com:80`).value(node('b.example.com'));
      // Written past the revision the watch had seen before it can reconnect.
      while (BigInt((await after.put('/elsewhere').value('x').exec()).header.revision) <= BigInt(revisionBefore) + 5n);
      assert.equal((await after.get('/elsewhere').exec()).header.cluster_id, clusterBefore, 'the same cluster id after the restart');
      relayed.restore();

      await web.waitForKeys(['b.example.com:80'], 20_000).catch((error: unknown) => {
        throw new Error(`${String(error)}: ${JSON.stringify(capture.lines().map((line) => line.msg))}`);
      });
      await after.put(`${PREFIX}/web/c.example.com:80`).value(node('c.example.com'));
      await web.waitForKeys(['b.example.com:80', 'c.example.com:80']);
      const warnings = capture.lines().filter((line) => line.code === 'LH_ETCD_HISTORY_LOST' && line.level === 40);
      assert.equal(warnings.length, 1, JSON.stringify(capture.lines().filter((line) => line.code === 'LH_ETCD_HISTORY_LOST')));
    } finally {
      await relayed.close();
    }
  });
});
