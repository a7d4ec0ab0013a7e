import { LighthouseError } from '../../lib/errors.js';

/** One znode name below the base path: a cluster/service name or a `host:port` node key. */
const SEGMENT = /^[A-Za-z0-9_.:@+=,-]+$/;

/** Joins znode names under `base`, refusing names that would escape it or form an invalid path. */
export function znodePath(base: string, ...segments: string[]): string {
  for (const segment of segments) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new LighthouseError('LH_ZK_OPERATION', `${JSON.stringify(segment)} is not a valid znode name`, { znode: `${base}/${segment}` });
    }
  }
  return [base === '/' ? '' : base, ...segments].join('/');
}

/** Every ancestor of `path` below the root, shortest first: `/a/b/c` -> `/a`, `/a/b`. */
export function ancestors(path: string): string[] {
  const parts = path.split('/').slice(1, -1);
  return parts.map((_, index) => `/${parts.slice(0, index + 1).join('/')}`);
}

/** The last name of a path. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
