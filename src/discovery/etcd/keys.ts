import { LighthouseError } from '../../lib/errors.js';

/**
 * Service and cluster names as key segments. The config layer allows
 * `[A-Za-z0-9_.-]+`; `.` and `..` are refused too, so keys read like the
 * ZooKeeper paths they mirror.
 */
const SEGMENT = /^[A-Za-z0-9_.-]{1,255}$/;
/** `host:port` of a registration */
const NODE_SEGMENT = /^[A-Za-z0-9_.-]{1,253}:[0-9]{1,5}$/;

export function clusterPrefix(prefix: string, cluster: string): string {
  checkSegment(prefix, cluster, SEGMENT, 'cluster/service name');
  return `${prefix}/${cluster}/`;
}

export function registrationKey(prefix: string, service: string, nodeKey: string): string {
  const folder = clusterPrefix(prefix, service);
  checkSegment(`${folder}${nodeKey}`, nodeKey, NODE_SEGMENT, 'node key');
  return `${folder}${nodeKey}`;
}

function checkSegment(where: string, segment: string, pattern: RegExp, what: string): void {
  if (!pattern.test(segment) || segment === '.' || segment === '..') {
    throw new LighthouseError('LH_ETCD_OPERATION', `${JSON.stringify(segment)} is not a valid ${what}`, { znode: where });
  }
}

/** The end of the key range holding every key that starts with `prefix` (etcd's "prefix + 1"). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i -= 1) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff: every key from `prefix` on.
  return Buffer.from([0]);
}

/** The smallest key after `key`: where the next page of a range read starts. */
export function keyAfter(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}
