import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { CheckPlugin } from '../plugins/types.js';
import type { Check, CheckOutcome, CheckTarget } from './types.js';
import { abortError, describeError, quote } from './line-exchange.js';

/** RFC 9110 token: what a header name or method may contain, so config cannot smuggle a second header. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const NO_LINE_BREAK = /^[^\r\n]*$/;
/** Enough of a failing response body to tell an operator why, short enough for a log line. */
const BODY_SNIPPET_BYTES = 200;

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

/**
 * Requests `uri` on the target and passes on a 2xx status. Each run uses its
 * own connection (`agent: false`): a pooled keep-alive socket could report a
 * service healthy on a connection it accepted before it stopped accepting new
 * ones, and would outlive the run.
 */
export const httpCheck: CheckPlugin<HttpCheckConfig> = {
  kind: 'http',
  schema: httpCheckSchema,
  create(config: HttpCheckConfig, target: CheckTarget): Check {
    const scheme = config.https ? 'https' : 'http';
    const hostPart = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
    const where = `http ${config.method} ${scheme}://${hostPart}:${target.port}${config.uri}`;
    const headers: OutgoingHttpHeaders = { 'user-agent': 'lighthouse-reporter', ...config.headers };
    if (config.host_header !== undefined) headers.host = config.host_header;
    const serverName = config.host_header?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    return {
      run(signal: AbortSignal): Promise<CheckOutcome> {
        return new Promise<CheckOutcome>((resolve) => {
          if (signal.aborted) {
            resolve({ passed: false, detail: `${where}: ${abortError(signal).message}` });
            return;
          }
          const options = {
            host: target.host,
            port: target.port,
            method: config.method,
            path: config.uri,
            headers,
            agent: false as const,
          };
          // The check asks a service on this machine (host defaults to 127.0.0.1)
          // whether it is healthy; it is not authenticating it. Local services
          // commonly present self-signed certificates, or certificates for their
          // public name that never match 127.0.0.1, and failing on those would
          // deregister healthy services. So certificates are not verified here.
          const request = config.https
            ? httpsRequest({ ...options, rejectUnauthorized: false, ...(serverName && isIP(serverName) === 0 ? { servername: serverName } : {}) })
            : httpRequest(options);
          let settled = false;
          const settle = (outcome: CheckOutcome): void => {
            if (settled) return;
            settled = true;
            signal.removeEventListener('abort', onAbort);
            request.destroy();
            resolve(outcome);
          };
          const onAbort = (): void => settle({ passed: false, detail: `${where}: ${abortError(signal).message}` });
          signal.addEventListener('abort', onAbort, { once: true });

          request.on('response', (response: IncomingMessage) => {
            const status = response.statusCode ?? 0;
            response.on('error', () => undefined);
            if (status >= 200 && status < 300) {
              response.destroy();
              settle({ passed: true, detail: `${where}: HTTP ${status}` });
              return;
            }
            readSnippet(response, (body) => {
              response.destroy();
              settle({ passed: false, detail: `${where}: HTTP ${status}${body ? ` ${quote(body)}` : ''}` });
            });
          });
          request.on('error', (error) => settle({ passed: false, detail: `${where}: ${describeError(error)}` }));
          request.end();
        });
      },
    };
  },
};

/** Reads the start of a body; stops early so a streaming or endless body cannot hold the check. */
function readSnippet(response: IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    done(Buffer.concat(chunks).subarray(0, BODY_SNIPPET_BYTES).toString('utf8').trim());
  };
  response.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= BODY_SNIPPET_BYTES) finish();
  });
  response.on('end', finish);
  response.on('close', finish);
}
