import { readFileSync } from 'node:fs';

export interface BuildInfo {
  /** the npm package name, e.g. `lighthouse-sd` */
  name: string;
  version: string;
}

let cached: BuildInfo | undefined;

/**
 * The package's name and version, read from package.json at run time: this
 * file sits two levels below the package root both as src/lib/version.ts
 * (tsx) and as dist/lib/version.js (built or installed from the tarball), so
 * there is no version string to keep in sync by hand.
 */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const manifest: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const { name, version } = (manifest ?? {}) as { name?: unknown; version?: unknown };
  if (typeof name !== 'string' || typeof version !== 'string') throw new Error(`${new URL('../../package.json', import.meta.url).pathname}: no "name" or "version" string`);
  cached = { name, version };
  return cached;
}
