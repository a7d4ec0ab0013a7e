import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiscovery, MemberLog, originalNodeBytes, TcpRelay, writeOriginalNode, zookeeperFixture } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { makeAcl, OPEN_ACL, Permission } from '../../src/discovery/zookeeper/zk-client.js';
import { ZookeeperError } from '../../src/discovery/zookeeper/zk-errors.js';

/** Faults of the persistent cluster watch that its own tests do not list. */

const BASE = '/lighthouse/persistent-attack';
const node = (host: string, ip = '10.0.0.5') => ({ host, ip, port: 80, metadataJson: '{}', peer: { ip, name: host, port: 1024 } });

describe('zookeeper discovery: persistent watch under unusual znodes', () => {
  const fx = zookeeperFixture();
  const { discoveries, relays } = fx;

  test('a new member whose ACL denies read does not hold back the reports of the readable members that change after it', async () => {
    const folder = `${BASE}/noauth`;
    for (const host of ['a', 'b']) await writeOriginalNode(fx.admin, BASE, 'noauth', node(`${host}.example.com`));
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    d.connect({});
    const log = new MemberLog();
    d.watch('noauth', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);

    // Anyone may write or delete it, nobody may read it.
    const noRead = [makeAcl(Permission.WRITE | Permission.DELETE | Permission.ADMIN, 'world', 'anyone')];
    await fx.admin.create(`${folder}/secret.example.com:80`, originalNodeBytes(node('secret.example.com')), noRead, false);
    await writeOriginalNode(fx.admin, BASE, 'noauth', node('c.example.com'));
    // The readable ones are reported, with the version of the state they reflect, as a listing would.
    await log.waitFor((set) => set.members.some((m) => m.host === 'c.example.com') && set.version !== undefined, `c reported with a version (last: ${log.keys()?.join(',')} v${log.latest?.version})`, 8_000);
    await writeOriginalNode(fx.admin, BASE, 'noauth', node('d.example.com'));
    await log.waitFor((set) => set.members.some((m) => m.host === 'd.example.com') && set.version !== undefined, `d reported with a version (last: ${log.keys()?.join(',')} v${log.latest?.version})`, 8_000);
    assert.ok(!log.latest!.members.some((m) => m.host === 'secret.example.com'));
  });

  test('a burst of hundreds of changes with the connection cut and restored in the middle converges to the exact set and version', async () => {
    const folder = `${BASE}/cutburst`;
    for (let i = 0; i < 100; i += 1) await writeOriginalNode(fx.admin, BASE, 'cutburst', node(`old${i}.example.com`));
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 20_000 });
    discoveries.push(d);
    d.connect({});
    const log = new MemberLog();
    d.watch('cutburst', log.onMembers);
    await log.waitFor((set) => set.members.length === 100, '100 members');
    // 300 changes in batches of 20: removes of old0-49, data changes of old50-99 (each twice), 150 creates; the link cut at batch 5, back at batch 10.
    let removed = 0;
    let changed = 0;
    let created = 0;
    for (let batch = 0; batch < 15; batch += 1) {
      if (batch === 5) relay.cut();
      if (batch === 10) relay.restore();
      const ops: Promise<unknown>[] = [];
      for (let j = 0; j < 20; j += 1) {
        const kind = (batch * 20 + j) % 6;
        if (kind === 0 && removed < 50) ops.push(fx.admin.remove(`${folder}/old${removed++}.example.com:80`, -1));
        else if (kind % 2 === 1 && changed < 100) {
          const host = `old${50 + (changed++ % 50)}.example.com`;
          ops.push(fx.admin.setData(`${folder}/${host}:80`, originalNodeBytes(node(host, `10.7.7.${changed}`)), -1));
        } else ops.push(writeOriginalNode(fx.admin, BASE, 'cutburst', node(`new${created++}.example.com`)));
      }
      await Promise.all(ops);
    }
    const { children, stat } = await fx.admin.getChildren(folder);
    let version = stat.pzxid.readBigInt64BE(0);
    const want = new Map<string, string>();
    for (const child of children) {
      const read = await fx.admin.getData(`${folder}/${child}`);
      const mzxid = read.stat.mzxid.readBigInt64BE(0);
      if (mzxid > version) version = mzxid;
      want.set(child, (JSON.parse(read.data.toString()) as { host: string; ip?: string }).ip ?? '');
    }
    const expected = [...want.keys()].sort().join(',');
    const final = await log.waitFor((set) => set.version === String(version), `version ${version} (last ${log.latest?.version}, ${log.latest?.members.length} members)`, 20_000);
    assert.equal(final.members.map((m) => `${m.host}:${m.port}`).sort().join(','), expected);
    for (const m of final.members) assert.equal(m.ip, want.get(`${m.host}:${m.port}`), m.host);
  });

  test('a cluster closed and watched again on the same session sees later changes once, and the closed watch reports nothing', async () => {
    for (const host of ['a', 'b']) await writeOriginalNode(fx.admin, BASE, 'rewatch', node(`${host}.example.com`));
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    d.connect({});
    const first = new MemberLog();
    const watch = d.watch('rewatch', first.onMembers);
    await first.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    watch.close();
    const closedAt = first.sets.length;
    const second = new MemberLog();
    const twin = new MemberLog();
    d.watch('rewatch', second.onMembers);
    const twinWatch = d.watch('rewatch', twin.onMembers);
    await second.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    await twin.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    await writeOriginalNode(fx.admin, BASE, 'rewatch', node('c.example.com'));
    await second.waitForKeys(['a.example.com:80', 'b.example.com:80', 'c.example.com:80']);
    await twin.waitForKeys(['a.example.com:80', 'b.example.com:80', 'c.example.com:80']);
    twinWatch.close();
    await fx.admin.remove(`${BASE}/rewatch/a.example.com:80`, -1);
    await second.waitForKeys(['b.example.com:80', 'c.example.com:80']);
    await fx.admin.setData(`${BASE}/rewatch/b.example.com:80`, originalNodeBytes(node('b.example.com', '10.3.3.3')), -1);
    await second.waitFor((set) => set.members.some((m) => m.host === 'b.example.com' && m.ip === '10.3.3.3'), 'b changed');
    assert.equal(first.sets.length, closedAt, 'the closed watch reported nothing');
  });

  test('the cluster folder deleted and re-created with the same members (one multi) while watched', async () => {
    const folder = `${BASE}/recreate`;
    for (const host of ['a', 'b']) await writeOriginalNode(fx.admin, BASE, 'recreate', node(`${host}.example.com`));
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    d.connect({});
    const log = new MemberLog();
    d.watch('recreate', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    for (let round = 0; round < 3; round += 1) {
      const ip = `10.4.4.${round}`;
      await fx.admin.multi([
        { op: 'remove', path: `${folder}/a.example.com:80`, version: -1 },
        { op: 'remove', path: `${folder}/b.example.com:80`, version: -1 },
        { op: 'remove', path: folder, version: -1 },
        { op: 'create', path: folder, data: Buffer.alloc(0), acl: OPEN_ACL, ephemeral: false },
        { op: 'create', path: `${folder}/a.example.com:80`, data: originalNodeBytes(node('a.example.com', ip)), acl: OPEN_ACL, ephemeral: false },
        { op: 'create', path: `${folder}/b.example.com:80`, data: originalNodeBytes(node('b.example.com', ip)), acl: OPEN_ACL, ephemeral: false },
      ]);
      const { stat } = await fx.admin.getChildren(folder);
      let version = stat.pzxid.readBigInt64BE(0);
      for (const child of ['a.example.com:80', 'b.example.com:80']) {
        const mzxid = (await fx.admin.getData(`${folder}/${child}`)).stat.mzxid.readBigInt64BE(0);
        if (mzxid > version) version = mzxid;
      }
      await log.waitFor((set) => set.members.length === 2 && set.members.every((m) => m.ip === ip) && set.version === String(version), `round ${round}: both at ${ip}, version ${version} (last ${JSON.stringify(log.latest?.members.map((m) => m.ip))} v${log.latest?.version})`);
    }
    // Deleted for good, then re-created empty, then a member again.
    await fx.admin.multi([{ op: 'remove', path: `${folder}/a.example.com:80`, version: -1 }, { op: 'remove', path: `${folder}/b.example.com:80`, version: -1 }, { op: 'remove', path: folder, version: -1 }]);
    await log.waitFor((set) => set.members.length === 0, 'no members once the folder is gone');
    await writeOriginalNode(fx.admin, BASE, 'recreate', node('z.example.com'));
    await log.waitForKeys(['z.example.com:80']);
  });

  test('a member whose data turns undecodable and back, and a member with children of its own', async () => {
    const folder = `${BASE}/garbage`;
    await writeOriginalNode(fx.admin, BASE, 'garbage', node('a.example.com'));
    // Persistent (an ephemeral znode cannot have children).
    await fx.admin.create(`${folder}/b.example.com:80`, originalNodeBytes(node('b.example.com')), OPEN_ACL, false);
    const d = createDiscovery({ hosts: [`127.0.0.1:${fx.zk.server(1).clientPort}`], path: BASE });
    discoveries.push(d);
    d.connect({});
    const log = new MemberLog();
    d.watch('garbage', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    await fx.admin.setData(`${folder}/a.example.com:80`, Buffer.from([0xff, 0x00, 0x7b]), -1);
    await log.waitFor((set) => set.members.length === 1 && set.rejected.length === 1, `a rejected (last ${log.keys()?.join(',')})`);
    await fx.admin.setData(`${folder}/a.example.com:80`, originalNodeBytes(node('a.example.com', '10.6.6.6')), -1);
    await log.waitFor((set) => set.members.some((m) => m.host === 'a.example.com' && m.ip === '10.6.6.6') && set.rejected.length === 0, 'a back');
    // Grandchildren come and go (not members); the member's own changes still count, the version stays exact.
    await fx.admin.create(`${folder}/b.example.com:80/extra`, Buffer.from('x'), OPEN_ACL, false);
    await fx.admin.setData(`${folder}/b.example.com:80/extra`, Buffer.from('y'), -1);
    await fx.admin.remove(`${folder}/b.example.com:80/extra`, -1);
    await fx.admin.setData(`${folder}/b.example.com:80`, originalNodeBytes(node('b.example.com', '10.6.6.7')), -1);
    const { stat } = await fx.admin.getChildren(folder);
    let version = stat.pzxid.readBigInt64BE(0);
    for (const child of ['a.example.com:80', 'b.example.com:80']) {
      const mzxid = (await fx.admin.getData(`${folder}/${child}`)).stat.mzxid.readBigInt64BE(0);
      if (mzxid > version) version = mzxid;
    }
    await log.waitFor((set) => set.members.some((m) => m.host === 'b.example.com' && m.ip === '10.6.6.7') && set.version === String(version), `b changed at ${version} (last v${log.latest?.version})`);
    assert.ok(log.sets.every((set) => set.members.every((m) => m.host.endsWith('.example.com'))));
  });

  test('the session expires while the first listing and addWatch are in flight', async () => {
    for (const host of ['a', 'b', 'c']) await writeOriginalNode(fx.admin, BASE, 'expiry', node(`${host}.example.com`));
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const sessions: string[] = [];
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 4_000 });
    discoveries.push(d);
    d.connect({ onSession: (id) => sessions.push(id) });
    await waitFor(() => d.state === 'connected', 'connected');
    const log = new MemberLog();
    // Cut in the same turn as the watch starts: its requests are queued, never answered on this connection.
    d.watch('expiry', log.onMembers);
    relay.cut();
    await waitFor(() => d.state !== 'connected', 'disconnected');
    await fx.admin.remove(`${BASE}/expiry/a.example.com:80`, -1);
    await writeOriginalNode(fx.admin, BASE, 'expiry', node('d.example.com'));
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    relay.restore();
    await log.waitForKeys(['b.example.com:80', 'c.example.com:80', 'd.example.com:80'], 20_000);
    assert.ok(sessions.length >= 2, `a new session (${sessions.length})`);
    await writeOriginalNode(fx.admin, BASE, 'expiry', node('e.example.com'));
    await log.waitForKeys(['b.example.com:80', 'c.example.com:80', 'd.example.com:80', 'e.example.com:80']);
    await fx.admin.remove(`${BASE}/expiry/b.example.com:80`, -1);
    await log.waitForKeys(['c.example.com:80', 'd.example.com:80', 'e.example.com:80']);
  });

  test('a member replaced in one multi after a resumed session (persistent watch not re-added yet) is read again, with its new data', async () => {
    const folder = `${BASE}/resumed-replace`;
    for (const host of ['a', 'b']) await writeOriginalNode(fx.admin, BASE, 'resumed-replace', node(`${host}.example.com`));
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const sessions: string[] = [];
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 20_000 });
    discoveries.push(d);
    d.connect({ onSession: (id) => sessions.push(id) });
    const log = new MemberLog();
    d.watch('resumed-replace', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    relay.cut();
    await waitFor(() => d.state !== 'connected', 'the connection to drop');
    relay.restore();
    await waitFor(() => d.state === 'connected', 'the same session back');
    assert.equal(sessions.length, 1, 'the session resumed');
    // As the reporter changes a member's data: delete and create in one transaction.
    const path = `${folder}/a.example.com:80`;
    await fx.admin.multi([
      { op: 'remove', path, version: -1 },
      { op: 'create', path, data: originalNodeBytes(node('a.example.com', '10.5.5.5')), acl: OPEN_ACL, ephemeral: false },
    ]);
    const { stat } = await fx.admin.getChildren(folder);
    let version = stat.pzxid.readBigInt64BE(0);
    for (const child of ['a.example.com:80', 'b.example.com:80']) {
      const mzxid = (await fx.admin.getData(`${folder}/${child}`)).stat.mzxid.readBigInt64BE(0);
      if (mzxid > version) version = mzxid;
    }
    await log.waitFor((set) => set.members.some((m) => m.host === 'a.example.com' && m.ip === '10.5.5.5'), `a's new address (last: ${JSON.stringify(log.latest?.members.map((m) => `${m.host}=${m.ip}`))} v${log.latest?.version})`);
    // No set claimed the version of the replacement while showing the old address.
    for (const set of log.sets) if (set.version === String(version)) assert.ok(set.members.some((m) => m.host === 'a.example.com' && m.ip === '10.5.5.5'), `version ${version} with ${JSON.stringify(set.members.map((m) => `${m.host}=${m.ip}`))}`);
    // And it is followed from then on.
    await fx.admin.setData(path, originalNodeBytes(node('a.example.com', '10.5.5.6')), -1);
    await log.waitFor((set) => set.members.some((m) => m.host === 'a.example.com' && m.ip === '10.5.5.6'), 'a changed again');
  });

  test('a member whose data changed while the link was down is read again when the session falls back to one-shot watches (addWatch refused on the way back)', async () => {
    const folder = `${BASE}/fallback`;
    for (const host of ['a', 'b']) await writeOriginalNode(fx.admin, BASE, 'fallback', node(`${host}.example.com`));
    const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
    relays.push(relay);
    const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 20_000 });
    discoveries.push(d);
    // The server behind the address is replaced by one older than 3.6 while the link is down (a mixed
    // ensemble): addWatch is answered UNIMPLEMENTED and the connection closed; the rest is the real server.
    let old = false;
    const original = d.session.current.bind(d.session);
    d.session.current = () => {
      const client = original();
      return new Proxy(client, {
        get(target, property) {
          if (property === 'addWatch' && old) {
            return (path: string) => {
              target.dropConnection();
              return Promise.reject(new ZookeeperError('addWatch', path, -6, 'UNIMPLEMENTED'));
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    };
    d.connect({});
    const log = new MemberLog();
    d.watch('fallback', log.onMembers);
    await log.waitForKeys(['a.example.com:80', 'b.example.com:80']);
    relay.cut();
    await waitFor(() => d.state !== 'connected', 'the connection to drop');
    await fx.admin.setData(`${folder}/a.example.com:80`, originalNodeBytes(node('a.example.com', '10.2.2.2')), -1);
    old = true;
    relay.restore();
    await log.waitFor((set) => set.members.some((m) => m.host === 'a.example.com' && m.ip === '10.2.2.2'), `a's change made during the outage (last: ${JSON.stringify(log.latest?.members.map((m) => `${m.host}=${m.ip}`))})`, 15_000);
    // Followed from then on, on the one-shot path.
    await fx.admin.setData(`${folder}/a.example.com:80`, originalNodeBytes(node('a.example.com', '10.2.2.3')), -1);
    await log.waitFor((set) => set.members.some((m) => m.host === 'a.example.com' && m.ip === '10.2.2.3'), 'a changed again', 15_000);
  });
});
