import { connectClient } from '../../test/support/zookeeper.js';
import type { BenchContext } from '../lib/context.js';
import { sleep } from '../lib/procs.js';
import { summary } from '../lib/stats.js';
import { createNode, createNodes, deleteNode, type BenchNode } from '../lib/zk.js';

export interface WatchFloorResult {
  changes: number;
  bulkNodes: number;
  /** ms from the znode create/delete to a bare client's children watch firing: what no writer can beat */
  watch: ReturnType<typeof summary>;
  /** the same, plus the getChildren that re-arms the watch and lists the folder (the least a watcher must read) */
  watchAndList: ReturnType<typeof summary>;
}

/**
 * The ZooKeeper floor of convergence, measured on the same server and in the
 * same run as the convergence scenario: a second bare client (no Lighthouse
 * code) holds a children watch on a folder of `bulkNodes` members; the bench
 * client adds and removes a node there, as the convergence scenario does.
 */
export async function watchFloor(context: BenchContext, changes: number, bulkNodes = 1000): Promise<WatchFloorResult> {
  const base = '/bench/floor';
  await createNodes(context.client, base, Array.from({ length: bulkNodes }, (_, index) => ({ cluster: 'floor', node: { host: `n${index}.floor.bench`, port: 1 } })));
  const watcher = await connectClient(context.zk.connectString);
  const folder = `${base}/floor`;
  const watch: number[] = [];
  const watchAndList: number[] = [];
  try {
    for (let index = -20; index < changes; index += 1) {
      let fire: (at: number) => void = () => undefined;
      const fired = new Promise<number>((resolve) => (fire = resolve));
      // The watch is set once the server answered: writing before that (another session, no ordering) could
      // land before it, and the watch would wait for the next change.
      await watcher.getChildren(folder, () => fire(performance.now()));
      const node: BenchNode = { host: `p${Math.floor((index + 20) / 2)}.floor.bench`, port: 2 };
      const started = performance.now();
      if ((index + 20) % 2 === 0) await createNode(context.client, base, 'floor', node);
      else await deleteNode(context.client, base, 'floor', node);
      const firedAt = await Promise.race([fired, sleep(10_000).then(() => Promise.reject(new Error(`no watch event within 10 s for change ${index}`)))]);
      await watcher.getChildren(folder);
      const listedAt = performance.now();
      if (index < 0) continue; // warm-up, as in the convergence scenario
      watch.push(firedAt - started);
      watchAndList.push(listedAt - started);
      await sleep(20);
    }
  } finally {
    await watcher.close().catch(() => undefined);
  }
  return { changes, bulkNodes, watch: summary(watch), watchAndList: summary(watchAndList) };
}
