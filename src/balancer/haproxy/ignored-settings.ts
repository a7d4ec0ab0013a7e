import type { IgnoredSetting, IgnoreSettings } from '../../plugins/types.js';
import { MANAGED_GLOBAL } from './directives.js';

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
 * original also passed `-p`, which overrides `pidfile`) and the settings above.
 */
export const ignoreHaproxySettings: IgnoreSettings = (body) => {
  const ignored: IgnoredSetting[] = [];
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const reason = IGNORED_TOP_LEVEL[key];
    if (reason) ignored.push({ path: [key], reason });
    else kept[key] = value;
  }
  if (Array.isArray(kept.global)) {
    kept.global = kept.global.filter((line: unknown, index) => {
      const keyword = typeof line === 'string' ? line.trim().split(/\s+/)[0] : undefined;
      const managed = keyword === undefined ? undefined : MANAGED_GLOBAL[keyword];
      if (managed) ignored.push({ path: ['global', index], reason: `ignored "${keyword}": ${managed}` });
      return !managed;
    });
  }
  return { body: kept, ignored };
};
