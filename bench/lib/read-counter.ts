import type { ZkSession } from '../../src/discovery/zookeeper/session.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

export interface ReadCounter {
  /** getChildren, getData and exists requests the watches of this session sent */
  reads: number;
}

const READS = new Set(['getChildren', 'getData', 'exists']);

/**
 * Counts, client-side, the read requests a session's watches send: every
 * watch takes `session.current()` per operation, so the session's client is
 * wrapped there (the liveness probes go to the client directly and are
 * counted by the session's own stats instead). Bench only.
 */
export function countReads(session: ZkSession): ReadCounter {
  const counter: ReadCounter = { reads: 0 };
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
