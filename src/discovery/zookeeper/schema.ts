import { z } from 'zod';

/** `host:port`; the client library splits on `:` so IPv6 literals are not supported. */
const HOST_PORT = /^[A-Za-z0-9_.-]{1,253}:([1-9][0-9]{0,4})$/;

/**
 * An absolute znode path with no empty, `.` or `..` segments and a
 * conservative character set, so every path we derive from it is valid.
 */
const ZNODE_PATH = /^(\/[A-Za-z0-9_.:@+=,-]+)+$/;

const hostPort = z
  .string()
  .regex(HOST_PORT, 'must be "host:port"')
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be 1-65535');

const znodePath = z
  .string()
  .regex(ZNODE_PATH, 'must be an absolute znode path like /lighthouse/services (no trailing "/")')
  .refine((value) => value.split('/').every((segment) => segment !== '.' && segment !== '..'), 'must not contain "." or ".." segments')
  .refine((value) => value !== '/zookeeper' && !value.startsWith('/zookeeper/'), '/zookeeper is reserved by ZooKeeper');

const digestUser = z.string().min(1).regex(/^[^:\s]+$/, 'must not contain ":" or whitespace');

export const authSchema = z.union([
  z.strictObject({ scheme: z.literal('digest'), user: digestUser, password: z.string().min(1) }),
  z.strictObject({ scheme: z.literal('digest'), secrets_file: z.string().min(1) }),
]);

/** The body of `discovery/<name>.yaml` for the zookeeper plugin (name/plugin/advertise are the core's). */
export const zookeeperConfigSchema = z.strictObject({
  hosts: z.array(hostPort).min(1),
  path: znodePath,
  session_timeout_ms: z.number().int().min(200).max(600_000).default(10_000),
  /** how long one connection attempt (TCP connect + session handshake) may take before the next server is tried */
  connect_timeout_ms: z.number().int().min(50).max(600_000).optional(),
  /** deadline of every ZooKeeper request */
  operation_timeout_ms: z.number().int().min(50).max(600_000).default(5_000),
  auth: authSchema.optional(),
  /** where writers keep their acknowledgement records (docs/fleet-safety.md); default: `writer-acks` next to `path` */
  acks_path: znodePath.optional(),
});

/** `/lighthouse/services` -> `/lighthouse/writer-acks`: next to the clusters, never among them (a record is no cluster). */
export function acksPathOf(config: Pick<ZookeeperConfig, 'path' | 'acks_path'>): string {
  if (config.acks_path) return config.acks_path;
  const parent = config.path.slice(0, config.path.lastIndexOf('/'));
  return `${parent}/writer-acks`;
}

export type ZookeeperConfig = z.output<typeof zookeeperConfigSchema>;
export type ZookeeperAuthConfig = z.output<typeof authSchema>;
