import { z } from 'zod';
import { CLUSTER_NAME, ITEM_NAME_RULE, portSchema } from '../lib/schemas.js';

/** Shapes owned by the core; plugin-owned sections are validated by their plugins. */

const metadataValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(metadataValue), z.record(z.string(), metadataValue)]),
);

export const advertiseSchema = z.strictObject({
  host: z.string().regex(/^[A-Za-z0-9_.-]{1,253}$/, 'must be a host name').optional(),
  ip: z.ipv4().optional(),
  peer_port: portSchema.optional(),
});

/** Settings every discovery or balancer file may carry besides its plugin's own. */
export const pluginFileKeys = ['name', 'plugin', 'advertise', 'removal_guard'] as const;

export const clusterCoreSchema = z.object({
  name: z.string().min(1).optional(),
  discovery: z.string().min(1),
  meta_cluster: z.string().regex(CLUSTER_NAME, ITEM_NAME_RULE).optional(),
});

/**
 * `removal_guard:` of a cluster or discovery file (docs/fleet-safety.md). Each setting
 * left out takes the discovery file's, then the built-in default.
 */
export const removalGuardSchema = z.strictObject({
  enabled: z.boolean().optional(),
  min_members: z.number().int().min(0).optional(),
  panic_threshold: z.number().min(0).max(1).optional(),
  /** seconds */
  window: z.number().positive().max(86_400).optional(),
  probe_held: z.boolean().optional(),
});

/**
 * Bounds of the check durations, in seconds. Node's timers hold at most
 * 2^31-1 ms (24.8 days) and fire after 1 ms beyond that, so an unbounded
 * value became a check run every millisecond (interval) or a check that
 * always timed out (timeout). The maxima are far inside that and far beyond
 * any useful health check; the minima keep a value from rounding to 0 ms.
 */
export const CHECK_INTERVAL_SECONDS = { min: 0.01, max: 3600 } as const;
export const CHECK_TIMEOUT_SECONDS = { min: 0.01, max: 600 } as const;

function seconds(bounds: { min: number; max: number }) {
  return z
    .number()
    .min(bounds.min, `must be at least ${bounds.min} seconds`)
    .max(bounds.max, `must be at most ${bounds.max} seconds (values are seconds, not milliseconds)`);
}

export const checkCoreSchema = z.object({
  rise: z.number().int().min(1),
  fall: z.number().int().min(1),
  /** seconds; defaults below the interval so one hung check cannot overlap the next */
  timeout: seconds(CHECK_TIMEOUT_SECONDS).optional(),
});

export const serviceSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    discovery: z.string().min(1),
    port: portSchema.optional(),
    ports: z.array(portSchema).min(1).optional(),
    // No default: unset, the checks connect to the address the reporter registers (src/reporter/check-address.ts).
    host: z.string().min(1).optional(),
    metadata: z.record(z.string(), metadataValue).default({}),
    advertise: advertiseSchema.default({}),
    checks: z.looseObject({ interval: seconds(CHECK_INTERVAL_SECONDS) }),
  })
  .refine((value) => value.port !== undefined || value.ports !== undefined, { message: 'needs "port" or "ports"', path: ['port'] });

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export const loggingSchema = z.strictObject({
  level: logLevel.default('info'),
  /** per-module levels overriding `level`: config, discovery, balancer, service */
  modules: z.strictObject({ config: logLevel.optional(), discovery: logLevel.optional(), balancer: logLevel.optional(), service: logLevel.optional() }).optional(),
  format: z.enum(['json', 'pretty']).optional(),
  destination: z.string().min(1).default('stdout'),
});

export const pluginsFileSchema = z.strictObject({
  plugins: z.array(z.string().min(1)).default([]),
});
