import { z } from 'zod';

/** Shapes owned by the core; plugin-owned sections are validated by their plugins. */

export const portSchema = z.number().int().min(1).max(65535);

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
  meta_cluster: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only').optional(),
});

/**
 * `removal_guard:` of a cluster file (README "Fleet safety"). Each setting
 * left out takes the writer-wide default.
 */
export const removalGuardSchema = z.strictObject({
  enabled: z.boolean().optional(),
  min_members: z.number().int().min(0).optional(),
  panic_threshold: z.number().min(0).max(1).optional(),
  /** seconds */
  window: z.number().positive().max(86_400).optional(),
  probe_held: z.boolean().optional(),
});

export const checkCoreSchema = z.object({
  rise: z.number().int().min(1),
  fall: z.number().int().min(1),
  /** seconds; defaults below the interval so one hung check cannot overlap the next */
  timeout: z.number().positive().optional(),
});

export const serviceSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    discovery: z.string().min(1),
    port: portSchema.optional(),
    ports: z.array(portSchema).min(1).optional(),
    host: z.string().min(1).default('127.0.0.1'),
    metadata: z.record(z.string(), metadataValue).default({}),
    advertise: advertiseSchema.default({}),
    checks: z.looseObject({ interval: z.number().positive() }),
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

export const CLUSTER_NAME = /^[A-Za-z0-9_.-]+$/;
