import { z } from 'zod';

/** `http(s)://host:port`; gRPC takes host:port, the scheme says whether to use TLS. */
const ENDPOINT = /^(https?):\/\/([A-Za-z0-9_.-]{1,253}|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,4})$/;

/**
 * An absolute key prefix in the same form as the ZooKeeper `path`, so one
 * layout (`<prefix>/<service>/<host>:<port>`) reads the same in both
 * backends and no key we derive from it can be ambiguous.
 */
const KEY_PREFIX = /^(\/[A-Za-z0-9_.:@+=,-]+)+$/;

const endpoint = z
  .string()
  .regex(ENDPOINT, 'must be a URL like http://127.0.0.1:2379 (scheme, host and port, nothing else)')
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be 1-65535');

const authSchema = z.union([
  z.strictObject({ user: z.string().min(1), password: z.string().min(1) }),
  z.strictObject({ user: z.string().min(1), password_file: z.string().min(1) }),
]);

const tlsSchema = z
  .strictObject({
    ca_file: z.string().min(1),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
  })
  .superRefine((value, context) => {
    if ((value.cert_file === undefined) !== (value.key_file === undefined)) {
      context.addIssue({ code: 'custom', path: [value.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'cert_file and key_file go together (client certificate authentication)' });
    }
  });

/** The body of `discovery/<name>.yaml` for the etcd plugin (name/plugin/advertise are the core's). */
export const etcdConfigSchema = z
  .strictObject({
    endpoints: z.array(endpoint).min(1),
    prefix: z
      .string()
      .regex(KEY_PREFIX, 'must be an absolute key prefix like /lighthouse/services (no trailing "/")')
      .refine((value) => value.split('/').every((segment) => segment !== '.' && segment !== '..'), 'must not contain "." or ".." segments'),
    /** seconds a dead reporter's registrations outlive it; etcd raises values below its own minimum */
    lease_ttl: z.number().int().min(1).max(3600).default(10),
    /** deadline of every etcd request */
    operation_timeout_ms: z.number().int().min(50).max(600_000).default(5_000),
    auth: authSchema.optional(),
    tls: tlsSchema.optional(),
    /** where writers keep their acknowledgement records (docs/fleet-safety.md); default: `writer-acks` next to `prefix` */
    acks_prefix: z
      .string()
      .regex(KEY_PREFIX, 'must be an absolute key prefix like /lighthouse/writer-acks (no trailing "/")')
      .refine((value) => value.split('/').every((segment) => segment !== '.' && segment !== '..'), 'must not contain "." or ".." segments')
      .optional(),
  })
  .superRefine((value, context) => {
    const schemes = new Set(value.endpoints.map((url) => url.slice(0, url.indexOf(':'))));
    if (schemes.size > 1) context.addIssue({ code: 'custom', path: ['endpoints'], message: 'must all be http:// or all be https:// (one connection setting for all)' });
    if (value.tls && schemes.has('http')) context.addIssue({ code: 'custom', path: ['tls'], message: 'needs https:// endpoints' });
  });

export type EtcdConfig = z.output<typeof etcdConfigSchema>;

/** `/lighthouse/services` -> `/lighthouse/writer-acks`: next to the clusters, never among them. */
export function acksPrefixOf(config: Pick<EtcdConfig, 'prefix' | 'acks_prefix'>): string {
  if (config.acks_prefix) return config.acks_prefix;
  return `${config.prefix.slice(0, config.prefix.lastIndexOf('/'))}/writer-acks`;
}
