import type { IgnoredSetting, IgnoreSettings } from '../../lib/plugin-helper.js';
import { MANAGED_GLOBAL, misplacedDirective, type Section } from './directives.js';

/**
 * Settings of the original Lighthouse's haproxy.yaml that mean nothing here,
 * accepted so its files work unchanged. Its docs and examples put `daemon`
 * in `global` (it started HAProxy itself and waited for it to detach); its
 * settings list names `meta_cluster_ports`, which its code never read.
 */
const IGNORED_TOP_LEVEL: Readonly<Record<string, string>> = {
  meta_cluster_ports: 'ignored: the original documented this setting but never read it; a meta-cluster\'s port is meta_clusters.<name>.port',
};

/**
 * Drops `daemon`, `master-worker` and `pidfile` lines from `global` (Lighthouse
 * starts HAProxy detached, in master-worker mode, with `-p pid_file`; the
 * original also passed `-p`, which overrides `pidfile`), the settings above,
 * and proxy keywords in sections that do not take them (misplacedDirective).
 */
export const ignoreHaproxySettings: IgnoreSettings = (body) => {
  const ignored: IgnoredSetting[] = [];
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const reason = IGNORED_TOP_LEVEL[key];
    if (reason) ignored.push({ path: [key], reason });
    else kept[key] = value;
  }
  dropLines(kept, 'global', ['global'], ignored, (line) => {
    const keyword = line.trim().split(/\s+/)[0] ?? '';
    const managed = MANAGED_GLOBAL[keyword];
    return managed ? `ignored "${keyword}": ${managed}` : undefined;
  });
  dropLines(kept, 'defaults', ['defaults'], ignored, (line) => misplaced('defaults', line));
  for (const [group, key, section] of [['meta_clusters', 'frontend', 'frontend'], ['proxies', 'options', 'listen']] as const) {
    const entries = kept[group];
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) continue;
    const copy: Record<string, unknown> = { ...(entries as Record<string, unknown>) };
    for (const [name, entry] of Object.entries(copy)) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) continue;
      const own = { ...(entry as Record<string, unknown>) };
      dropLines(own, key, [group, name, key], ignored, (line) => misplaced(section, line));
      copy[name] = own;
    }
    kept[group] = copy;
  }
  return { body: kept, ignored };
};

/** The `haproxy:` section of a cluster file: misplaced frontend/backend lines dropped with a warning, as the original did. */
export const ignoreHaproxyClusterSettings: IgnoreSettings = (body) => {
  const ignored: IgnoredSetting[] = [];
  const kept = { ...body };
  dropLines(kept, 'frontend', ['frontend'], ignored, (line) => misplaced('frontend', line));
  dropLines(kept, 'backend', ['backend'], ignored, (line) => misplaced('backend', line));
  return { body: kept, ignored };
};

/** Why a proxy keyword in a proxy section that does not take it is dropped (everything else wrong stays an error of the schema). */
function misplaced(section: Exclude<Section, 'global' | 'peers'>, line: string): string | undefined {
  const message = misplacedDirective(section, line);
  return message && `ignored (HAProxy ignores it there, and the original dropped it): ${message}`;
}

/** Drops the lines of `holder[key]` that `reasonOf` names a reason for; paths keep the line's index in the file. */
function dropLines(holder: Record<string, unknown>, key: string, path: (string | number)[], ignored: IgnoredSetting[], reasonOf: (line: string) => string | undefined): void {
  const lines = holder[key];
  if (!Array.isArray(lines)) return;
  holder[key] = lines.filter((line: unknown, index) => {
    const reason = typeof line === 'string' ? reasonOf(line) : undefined;
    if (reason) ignored.push({ path: [...path, index], reason });
    return !reason;
  });
}
