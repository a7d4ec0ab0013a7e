import { z } from 'zod';
import { CLUSTER_NAME, ITEM_NAME_RULE, portSchema } from '../../lib/schemas.js';
import { checkDirective, type Section } from './directives.js';
import { isServerKeyword } from './server-keywords.js';
import { balancerListeners, clashMessage, overlaps } from './listen-addresses.js';

/** Proxy, meta-cluster and cluster names become HAProxy section names and ACL names. */
const PROXY_NAME = CLUSTER_NAME;
/** A path HAProxy reads as one config word (no spaces, quotes, comment or escape characters). */
const CONFIG_PATH = /^\/[^\s#"'\\]*$/;
/** An address on a `bind` line: IPv4, IPv6, a host name or `*`. */
const BIND_ADDRESS = /^(\*|[A-Za-z0-9_.:-]+)$/;
const HOST = /^[A-Za-z0-9_.:-]{1,253}$/;

const noBreaks = (value: string): boolean => !/[\r\n\0]/.test(value);

/** A list of directive lines, each checked against the keywords legal in `section`; the issue path names the line. */
function directiveLines(section: Section) {
  return z.array(z.string()).superRefine((lines, ctx) => {
    lines.forEach((line, index) => {
      const problem = checkDirective(section, line);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [index], params: { code: 'LH_CONFIG_DIRECTIVE' } });
    });
  });
}

const path = (what: string) => z.string().regex(CONFIG_PATH, `${what} must be an absolute path without spaces, quotes, "#" or "\\"`);
const bindAddress = z.string().regex(BIND_ADDRESS, 'must be an IP address, a host name or "*"');
const milliseconds = z.number().int().min(1).max(2_147_483_647);

const upstreamSchema = z.strictObject({
  host: z.string().regex(HOST, 'must be a host name or IP address'),
  port: portSchema,
  max_conn: z.number().int().min(1).optional(),
});

const proxySchema = z.strictObject({
  port: portSchema,
  upstreams: z.array(upstreamSchema).min(1),
  options: directiveLines('listen').default([]),
  bind_address: bindAddress.optional(),
});

const metaClusterSchema = z.strictObject({
  port: portSchema,
  frontend: directiveLines('frontend').default([]),
});

const statsSchema = z.strictObject({
  port: portSchema,
  uri: z
    .string()
    .regex(/^\/[^\s#"'\\]*$/, 'must start with "/" and contain no spaces, quotes, "#" or "\\"')
    .optional(),
  timeouts: z
    .strictObject({ connect: milliseconds.optional(), client: milliseconds.optional(), server: milliseconds.optional() })
    .optional(),
  auth: z
    .string()
    .regex(/^[^\s:#"'\\]+:[^\s#"'\\]+$/, 'must be "user:password" without spaces, quotes, "#" or "\\"')
    .optional(),
  bind_address: bindAddress.optional(),
});

/** The body of `balancers/<name>.yaml` for the haproxy plugin (name/plugin are the core's). */
export const haproxyConfigSchema = z
  .strictObject({
    config_file: path('config_file'),
    socket_file: path('socket_file'),
    pid_file: path('pid_file'),
    global: directiveLines('global').default([]),
    defaults: directiveLines('defaults').default([]),
    bind_address: bindAddress.optional(),
    meta_clusters: z.record(z.string().regex(PROXY_NAME, `meta-cluster names use ${ITEM_NAME_RULE}`), metaClusterSchema).default({}),
    proxies: z.record(z.string().regex(PROXY_NAME, `proxy names use ${ITEM_NAME_RULE}`), proxySchema).default({}),
    stats: statsSchema.optional(),
    /** master CLI socket; default: `<socket_file without .sock>-master.sock` beside socket_file */
    master_socket: path('master_socket').optional(),
    /**
     * `runtime`: membership through the runtime API, seamless master-worker
     * reloads for structural changes. `reload`: the original's behaviour
     * (rewrite and `haproxy -sf <oldpid>` on every change), for comparison.
     */
    update_strategy: z.enum(['runtime', 'reload']).default('runtime'),
    haproxy_binary: z.string().min(1).default('haproxy'),
    /** structural reloads closer together than this are coalesced into one */
    reload_min_interval_ms: z.number().int().min(0).max(600_000).default(1_000),
    /** this writer's zone, for clusters with `zone_aware` (docs/configuration.md) */
    zone: z.string().trim().min(1).max(253).refine(noBreaks, 'zone must be on one line').optional(),
  })
  .superRefine((config, ctx) => {
    // Listeners defined in this one file must not overlap (ports and bind lines alike); collisions with
    // clusters are checked at sync time, where the clusters are known.
    const listeners = balancerListeners(config);
    listeners.forEach((mine, index) => {
      const other = listeners.slice(0, index).find((earlier) => overlaps(earlier, mine));
      if (other) ctx.addIssue({ code: 'custom', message: clashMessage(mine, other), path: mine.setting });
    });
    for (const name of Object.keys(config.proxies)) {
      if (name in config.meta_clusters) ctx.addIssue({ code: 'custom', message: `proxy "${name}" has the same name as a meta-cluster`, path: ['proxies', name] });
      if (name === 'stats' && config.stats) ctx.addIssue({ code: 'custom', message: 'the name "stats" is used by the stats listener', path: ['proxies', name] });
    }
  });

/** `server_options` as a string (`check inter 2s`) or a list of words/groups; stored as words. */
const serverOptionsSchema = z
  .union([z.string(), z.array(z.string())])
  .superRefine((value, ctx) => {
    const parts = typeof value === 'string' ? [value] : value;
    parts.forEach((part, index) => {
      const at = typeof value === 'string' ? [] : [index];
      if (!noBreaks(part)) ctx.addIssue({ code: 'custom', message: 'server options must be on one line (no line break or NUL character)', path: at });
    });
    const words = parts.flatMap((part) => part.trim().split(/\s+/)).filter(Boolean);
    if (words.length > 0 && !isServerKeyword(words[0]!)) {
      ctx.addIssue({ code: 'custom', message: `"${words[0]}" is not an HAProxy 2.6 server option` });
    }
  })
  .transform((value) => (typeof value === 'string' ? [value] : value).flatMap((part) => part.trim().split(/\s+/)).filter(Boolean));

const metadataKey = z.string().min(1).max(253);
/** HAProxy's server weight range */
export const weightSchema = z.number().int().min(0).max(256);

/** `zone_aware:` of a cluster: same-zone members serve, the others stand by as `backup` servers until too few same-zone members remain. */
const zoneAwareSchema = z.strictObject({
  /** the metadata key holding a member's zone */
  metadata_key: metadataKey.default('zone'),
  /** spill over when fewer same-zone members than this are listed */
  min_members: z.number().int().min(0).max(100_000).default(1),
  /** ...or when same-zone members are fewer than this share of all members */
  min_fraction: z.number().min(0).max(1).default(0),
});

/** `weights:` of a cluster: each member's HAProxy weight from its metadata, else the first matching rule, else `default`. */
const weightsSchema = z.strictObject({
  metadata_key: metadataKey.default('weight'),
  rules: z
    .array(
      z.strictObject({
        /** every key must be in the member's metadata with this value (compared as text) */
        match: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).refine((match) => Object.keys(match).length > 0, 'match needs at least one key'),
        weight: weightSchema,
      }),
    )
    .default([]),
  default: weightSchema.default(1),
});

/** `slow_start: 30s`: HAProxy's `slowstart`, e.g. `500ms`, `30s`, `2m`. */
const durationSchema = z
  .union([z.string().regex(/^\d{1,7}(ms|s|m)$/, 'must be a duration like 500ms, 30s or 2m'), z.number().int().min(1).max(86_400_000)])
  .transform((value) => (typeof value === 'number' ? `${value}ms` : value));

/** The `haproxy:` section of `clusters/<name>.yaml`. */
export const haproxyClusterSchema = z.strictObject({
  /** own frontend port; not for meta-cluster members */
  port: portSchema.optional(),
  /** routing condition inside the meta-cluster frontend, e.g. `path_beg /api` */
  acl: z
    .string()
    .trim()
    .min(1)
    .refine(noBreaks, 'acl must be on one line (no line break or NUL character)')
    .optional(),
  frontend: directiveLines('frontend').default([]),
  backend: directiveLines('backend').default([]),
  server_options: serverOptionsSchema.default([]),
  zone_aware: zoneAwareSchema.optional(),
  weights: weightsSchema.optional(),
  /** a member added at run time ramps its weight up over this long (HAProxy `slowstart`) */
  slow_start: durationSchema.optional(),
}).superRefine((cluster, ctx) => {
  // Two sources for one server setting would leave the outcome to HAProxy's parsing order.
  const clash = (setting: string, keyword: string): void => {
    if (cluster.server_options.includes(keyword)) ctx.addIssue({ code: 'custom', message: `"${keyword}" in server_options clashes with ${setting}: remove one`, path: ['server_options'] });
  };
  if (cluster.weights) clash('weights', 'weight');
  if (cluster.zone_aware) clash('zone_aware', 'backup');
  if (cluster.slow_start !== undefined) clash('slow_start', 'slowstart');
});

export type HaproxyConfig = z.output<typeof haproxyConfigSchema>;
export type HaproxyClusterConfig = z.output<typeof haproxyClusterSchema>;
export type HaproxyProxyConfig = z.output<typeof proxySchema>;
export type HaproxyStatsConfig = z.output<typeof statsSchema>;
export type ZoneAwareConfig = z.output<typeof zoneAwareSchema>;
export type WeightsConfig = z.output<typeof weightsSchema>;
