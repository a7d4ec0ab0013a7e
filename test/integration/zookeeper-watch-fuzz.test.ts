import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiscovery, MemberLog, mkdirs, originalNodeBytes, TcpRelay, watchRequests, zookeeperFixture, OLDER_SERVER } from '../support/zookeeper.js';
import { waitFor } from '../support/wait-for.js';
import { seededRandom } from '../support/random.js';
import { sleep } from '../../src/lib/deadline.js';
import { OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import { isNoNode, ZookeeperError } from '../../src/discovery/zookeeper/zk-errors.js';
import { decodeNode } from '../../src/discovery/codec.js';
import type { MemberSet } from '../../src/discovery/types.js';

/**
 * Random changes to one cluster while the server's bytes reach the watch in
 * random batches (replies and the notifications after them in one socket
 * read) and the connection is cut now and then: after each round the watch
 * must hold exactly what ZooKeeper holds. The listing race of chaos 2 was
 * one such interleaving; this walks many, on both watch paths. Seeded, so a
 * failure names the seed that replays it (FUZZ_SEED=n; FUZZ_SEEDS=n walks
 * seeds 1..n).
 */

const BASE = '/lighthouse/watch-fuzz';
const ROUNDS = 3;
const STEPS = 25;
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'].map((host) => `${host}.example.com:80`);

const fx = zookeeperFixture();
const { discoveries, relays } = fx;

const bytes = (name: string, ip: string): Buffer => {
  const host = name.slice(0, name.indexOf(':'));
  return originalNodeBytes({ host, ip, port: 80, metadataJson: '{}', peer: { ip, name: host, port: 1024 } });
};

/** What ZooKeeper holds: `host:port=ip` per member, sorted. */
async function truth(folder: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await fx.admin.getChildren(folder)).children;
  } catch (error) {
    if (isNoNode(error)) return [];
    throw error;
  }
  const members: string[] = [];
  for (const name of names) {
    try {
      const node = decodeNode((await fx.admin.getData(`${folder}/${name}`)).data);
      if (node.ok) members.push(`${name}=${node.value.ip}`);
    } catch (error) {
      if (!isNoNode(error)) throw error;
    }
  }
  return members.sort();
}

const held = (set: MemberSet | undefined): string[] => (set ? set.members.map((m) => `${m.host}:${m.port}=${m.ip}`).sort() : []);

/** One random change to the cluster's folder (members are admin's ephemerals). */
async function step(folder: string, next: () => number, counter: { n: number }): Promise<string> {
  const name = NAMES[Math.floor(next() * NAMES.length)]!;
  const path = `${folder}/${name}`;
  const ip = `10.0.${counter.n >> 8}.${counter.n++ & 255}`;
  const roll = next();
  const ignoreMissing = (error: unknown): void => {
    if (!isNoNode(error) && !(error instanceof ZookeeperError && /NODE_EXISTS|NOT_EMPTY/.test(error.message))) throw error;
  };
  if (roll < 0.35) {
    await fx.admin.create(path, bytes(name, ip), OPEN_ACL, true).catch(ignoreMissing);
    return `create ${name}`;
  }
  if (roll < 0.6) {
    await fx.admin.remove(path, -1).catch(ignoreMissing);
    return `remove ${name}`;
  }
  if (roll < 0.8) {
    await fx.admin.setData(path, bytes(name, ip), -1).catch(ignoreMissing);
    return `setData ${name}`;
  }
  if (roll < 0.95) {
    // A reporter's update: delete and create in one multi.
    await fx.admin.multi([{ op: 'remove', path, version: -1 }, { op: 'create', path, data: bytes(name, ip), acl: OPEN_ACL, ephemeral: true }]).catch(ignoreMissing);
    return `replace ${name}`;
  }
  // The folder itself goes and comes back (emptied first).
  for (const child of (await fx.admin.getChildren(folder).catch(() => ({ children: [] as string[] }))).children) await fx.admin.remove(`${folder}/${child}`, -1).catch(ignoreMissing);
  await fx.admin.remove(folder, -1).catch(ignoreMissing);
  await mkdirs(fx.admin, folder);
  return 'folder re-created';
}

async function fuzz(mode: 'persistent' | 'one-shot', seed: number): Promise<void> {
  const cluster = `fuzz-${mode}-${seed}`;
  const folder = `${BASE}/${cluster}`;
  await mkdirs(fx.admin, folder);
  const relay = await TcpRelay.start(fx.zk.server(1).clientPort);
  relays.push(relay);
  const d = createDiscovery({ hosts: [relay.address], path: BASE, session_timeout_ms: 20_000, operation_timeout_ms: 5000 });
  discoveries.push(d);
  if (mode === 'one-shot') {
    // An older server, played as one refuses addWatch: UNIMPLEMENTED and the connection closed.
    watchRequests(d, OLDER_SERVER);
  }
  d.connect({});
  const log = new MemberLog();
  d.watch(cluster, log.onMembers);
  await log.waitFor(() => true, 'a first set');
  const next = seededRandom(seed);
  const counter = { n: 1 };
  const history: string[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    for (let i = 0; i < STEPS; i += 1) {
      const roll = next();
      if (roll < 0.5) relay.hold();
      else if (roll < 0.55) {
        relay.cut();
        history.push('cut');
      }
      history.push(await step(folder, next, counter));
      // Some time for the watch to ask (its requests wait in the relay while it holds), then all of it in one write.
      if (next() < 0.5) await sleep(Math.floor(next() * 15));
      relay.release();
      relay.restore();
    }
    const converged = await waitFor(async () => JSON.stringify(held(log.sets.at(-1))) === JSON.stringify(await truth(folder)), 'convergence', 15_000).catch(() => false);
    if (!converged) {
      assert.fail(`${mode} seed ${seed} round ${round}: ZooKeeper holds ${JSON.stringify(await truth(folder))}, the watch ${JSON.stringify(held(log.sets.at(-1)))}, after ${history.slice(-STEPS - 3).join(', ')}`);
    }
  }
  await d.close();
}

// FUZZ_SEED=n replays one seed; FUZZ_SEEDS=n walks seeds 1..n.
const seeds = process.env.FUZZ_SEED ? [Number(process.env.FUZZ_SEED)] : Array.from({ length: Number(process.env.FUZZ_SEEDS ?? 4) }, (_, i) => i + 1);
for (const seed of seeds) {
  test(`persistent watch, seed ${seed}: random changes, batched replies and notifications, cut connections: the watch ends with ZooKeeper's members`, async () => {
    await fuzz('persistent', seed);
  });
  test(`one-shot watches, seed ${seed}: the same`, async () => {
    await fuzz('one-shot', seed);
  });
}
