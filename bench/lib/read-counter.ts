import type { ZkSession } from '../../src/discovery/zookeeper/session.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

export interface ReadCounter {
  /** requests the watches of this session sent: getChildren, getData, exists and addWatch (a persistent watch's registration is a request too) */
  reads: number;
  /** the same, by operation */
  byOp: Record<string, number>;
}

const READS = new Set(['getChildren', 'getData', 'exists', 'addWatch']);

/**
 * Counts, client-side, the read requests a session's watches send: every
 * watch takes `session.current()` per operation, so the session's client is
 * wrapped there (the liveness probes go to the client directly and are
 * counted by the session's own stats instead). Bench only.
 */
export function countReads(session: ZkSession): ReadCounter {
  const counter: ReadCounter = { reads: 0, byOp: {} };
  const original = session.current.bind(session);
  const proxies = new WeakMap<ZkClient, ZkClient>();
  session.current = (): ZkClient => {
    const client = original();
    let proxy = proxies.get(client);
    if (!proxy) {
      proxy = new Proxy(client, {
        get(target, property, receiver) {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          if (typeof property === 'string' && READS.has(property)) {
            return (...args: unknown[]) => {
              counter.reads += 1;
              counter.byOp[property] = (counter.byOp[property] ?? 0) + 1;
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          }
          return (value as (...a: unknown[]) => unknown).bind(target);
        },
      });
      proxies.set(client, proxy);
    }
    return proxy;
  };
  return counter;
}
