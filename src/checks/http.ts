import { isIP } from 'node:net';
import { z } from 'zod';
import type { CheckPlugin } from './plugin-types.js';
import type { Check, CheckOutcome, CheckTarget } from './types.js';
import { describeError, quote } from './line-exchange.js';
import { httpExchange } from './http-exchange.js';

/** RFC 9110 token: what a header name or method may contain, so config cannot smuggle a second header. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const NO_LINE_BREAK = /^[^\r\n]*$/;

export const httpCheckSchema = z
  .strictObject({
    uri: z.string().regex(/^\/\S*$/, 'must be a path starting with "/" (e.g. /health), without spaces'),
    method: z
      .string()
      .regex(/^[A-Za-z]+$/, 'must be an HTTP method such as GET or HEAD')
      .transform((method) => method.toUpperCase())
      .default('GET'),
    https: z.boolean().default(false),
    /**
     * Host header, for services that route by virtual host; also the TLS
     * server name. Not `host`: the service file's `host` is the address the
     * checks connect to (as in nerve), and the two must not be confused.
     */
    host_header: z.string().regex(/^[A-Za-z0-9_.:[\]-]+$/, 'must be a host name, optionally with :port').optional(),
    headers: z.record(z.string().regex(TOKEN, 'header names are letters, digits and -'), z.string().regex(NO_LINE_BREAK, 'must be one line')).default({}),
  })
  .superRefine((value, context) => {
    if (value.host_header !== undefined && Object.keys(value.headers).some((name) => name.toLowerCase() === 'host')) {
      context.addIssue({ code: 'custom', path: ['headers'], message: 'sets Host, which "host_header" already sets (keep one)' });
    }
  });

export type HttpCheckConfig = z.infer<typeof httpCheckSchema>;

/** Methods that may carry a body: without a Content-Length the server could wait for one. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Requests `uri` on the target and passes on a 2xx status. Each run uses its
 * own connection (see `httpExchange` for why).
 */
export const httpCheck: CheckPlugin<HttpCheckConfig> = {
  kind: 'http',
  schema: httpCheckSchema,
  create(config: HttpCheckConfig, target: CheckTarget): Check {
    const scheme = config.https ? 'https' : 'http';
    const hostPart = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
    const where = `http ${config.method} ${scheme}://${hostPart}:${target.port}${config.uri}`;
    const defaultPort = config.https ? 443 : 80;
    const host = config.host_header ?? (target.port === defaultPort ? hostPart : `${hostPart}:${target.port}`);
    const request = Buffer.from(requestHead(config, host));
    const serverName = config.host_header?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const options = {
      tls: config.https ? (serverName && isIP(serverName) === 0 ? { servername: serverName } : {}) : undefined,
      head: config.method === 'HEAD',
    };
    return {
      async run(signal: AbortSignal): Promise<CheckOutcome> {
        try {
          const answer = await httpExchange(target, request, signal, options);
          if (answer.status >= 200 && answer.status < 300) return { passed: true, detail: `${where}: HTTP ${answer.status}` };
          const note = answer.note ? ` (${answer.note})` : '';
          return { passed: false, detail: `${where}: HTTP ${answer.status}${answer.body ? ` ${quote(answer.body)}` : ''}${note}` };
        } catch (error) {
          return { passed: false, detail: `${where}: ${describeError(error)}` };
        }
      },
    };
  },
};

/** The request's bytes, built once per check: configured headers override the defaults, except Connection. */
function requestHead(config: HttpCheckConfig, host: string): string {
  const headers = new Map<string, string>([
    ['host', `Host: ${host}`],
    ['user-agent', 'User-Agent: lighthouse-reporter'],
  ]);
  if (BODY_METHODS.has(config.method)) headers.set('content-length', 'Content-Length: 0');
  for (const [name, value] of Object.entries(config.headers)) {
    if (name.toLowerCase() !== 'connection') headers.set(name.toLowerCase(), `${name}: ${value}`);
  }
  // The answer ends when the server closes; httpExchange relies on it.
  headers.set('connection', 'Connection: close');
  return `${config.method} ${config.uri} HTTP/1.1\r\n${[...headers.values()].join('\r\n')}\r\n\r\n`;
}
