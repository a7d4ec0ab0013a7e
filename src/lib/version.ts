import { readFileSync } from 'node:fs';

export interface BuildInfo {
  /** the npm package name, e.g. `lighthouse-sd` */
  name: string;
  /** package.json's version, or `unknown` when it cannot be read */
  version: string;
}

const MANIFEST = new URL('../../package.json', import.meta.url);
let cached: BuildInfo | undefined;

/**
 * The package's name and version, read from package.json at run time: this
 * file sits two levels below the package root both as src/lib/version.ts
 * (tsx) and as dist/lib/version.js (built or installed from the tarball), so
 * there is no version string to keep in sync by hand.
 */
export function buildInfo(): BuildInfo {
  cached ??= readBuildInfo(MANIFEST);
  return cached;
}

/**
 * A copy of dist/ without its package.json still runs: a daemon that cannot
 * say its version is better than one that cannot start, and `unknown` is
 * what the version line and the metric then say.
 */
export function readBuildInfo(manifest: URL): BuildInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(manifest, 'utf8'));
  } catch {
    parsed = undefined;
  }
  const { name, version } = (parsed ?? {}) as { name?: unknown; version?: unknown };
  return { name: typeof name === 'string' ? name : 'lighthouse-sd', version: typeof version === 'string' ? version : 'unknown' };
}
