import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import type { CheckPlugin } from './plugin-types.js';
import type { Check, CheckOutcome, CheckTarget } from './types.js';
import type { StopSignal } from './run-stop.js';
import { describeError, quote } from './line-exchange.js';
import { httpExchange, type HttpExchangeOptions } from './http-exchange.js';
import { expectStatusSchema, statusSet } from './status-ranges.js';
import { regexSource, textMatcher } from './expectations.js';
import { describeTlsError, tlsConnectOptions, type TlsSettings } from './tls-options.js';

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
    /** statuses that pass; the original's rule, 2xx, when unset */
    expect_status: expectStatusSchema.optional(),
    /** the body must contain this text (read up to 64 KiB) */
    expect_body: z.string().min(1).optional(),
    /** the body must match this JavaScript regular expression */
    expect_body_regex: regexSource.optional(),
    /** PEM file of the CAs that sign the service's certificate, instead of the system CAs */
    ca_file: z.string().refine(isAbsolute, 'must be an absolute path').optional(),
    /** do not verify the certificate (a self-signed one, say) */
    insecure: z.boolean().default(false),
  })
  .superRefine((value, context) => {
    if (value.host_header !== undefined && Object.keys(value.headers).some((name) => name.toLowerCase() === 'host')) {
      context.addIssue({ code: 'custom', path: ['headers'], message: 'sets Host, which "host_header" already sets (keep one)' });
    }
    if (!value.https) {
      if (value.ca_file !== undefined) context.addIssue({ code: 'custom', path: ['ca_file'], message: 'needs "https: true"' });
      if (value.insecure) context.addIssue({ code: 'custom', path: ['insecure'], message: 'needs "https: true"' });
    }
    if (value.insecure && value.ca_file !== undefined) {
      context.addIssue({ code: 'custom', path: ['insecure'], message: 'turns off the verification "ca_file" is for (keep one)' });
    }
    if (value.method === 'HEAD' && (value.expect_body !== undefined || value.expect_body_regex !== undefined)) {
      context.addIssue({ code: 'custom', path: [value.expect_body !== undefined ? 'expect_body' : 'expect_body_regex'], message: 'cannot be met: a HEAD answer has no body' });
    }
    if (value.ca_file !== undefined && isAbsolute(value.ca_file)) {
      const problem = caFileProblem(value.ca_file);
      if (problem) context.addIssue({ code: 'custom', path: ['ca_file'], message: problem });
    }
  })
  // The CA's fingerprint is part of the settings, so a replaced CA file
  // makes a new check (with the new CA) the next time the service file is
  // read; the path alone would keep the old CA until a restart.
  .transform((value) => (value.ca_file === undefined ? value : { ...value, ca_sha256: fingerprint(value.ca_file) }));

function fingerprint(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return '';
  }
}

/** A CA file that cannot be read or holds no certificate is a config error, named by check-config. */
function caFileProblem(file: string): string | undefined {
  try {
    new X509Certificate(readFileSync(file));
    return undefined;
  } catch (error) {
    return `cannot be used: ${describeError(error)}`;
  }
}

export type HttpCheckConfig = z.infer<typeof httpCheckSchema>;

/** Methods that may carry a body: without a Content-Length the server could wait for one. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Requests `uri` on the target and passes on an expected status (2xx unless
 * `expect_status` says otherwise) and, when set, a body that meets
 * `expect_body` / `expect_body_regex`. Each run uses its own connection (see
 * `httpExchange` for why). Without a body expectation the answer ends at the
 * status line, as before.
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
    const statuses = statusSet(config.expect_status);
    const body = textMatcher({ contains: config.expect_body, regex: config.expect_body_regex });
    const tlsSettings: TlsSettings = { host: target.host, hostHeader: config.host_header, caFile: config.ca_file, insecure: config.insecure };
    const tls = config.https ? tlsConnectOptions(tlsSettings) : undefined;
    if (tls && 'error' in tls) return { run: () => Promise.resolve({ passed: false, detail: `${where}: ${tls.error}` }) };
    const options: HttpExchangeOptions = { tls: tls?.options, head: config.method === 'HEAD', accepts: statuses.has, readBody: body !== undefined };
    // A passing run says the same every time: its detail is built once per status.
    const passDetails = new Map<number, string>();
    const run = async (signal: StopSignal): Promise<CheckOutcome> => {
      try {
        const answer = await httpExchange(target, request, signal, options);
        const note = answer.note ? ` (${answer.note})` : '';
        if (!statuses.has(answer.status)) {
          return { passed: false, detail: `${where}: HTTP ${answer.status}${answer.body ? ` ${quote(answer.body)}` : ''}${note}, expected ${statuses.text}` };
        }
        const missing = body?.missing(answer.body);
        if (missing !== undefined) return { passed: false, detail: `${where}: HTTP ${answer.status} body ${quote(answer.body)}${note}, expected a body ${missing}` };
        let detail = passDetails.get(answer.status);
        if (detail === undefined) passDetails.set(answer.status, (detail = `${where}: HTTP ${answer.status}${body ? ` body ${body.wanted}` : ''}`));
        return { passed: true, detail };
      } catch (error) {
        const tlsProblem = tls ? describeTlsError(error, tlsSettings, tls.verifiedName) : undefined;
        return { passed: false, detail: `${where}: ${tlsProblem ?? describeError(error)}` };
      }
    };
    return { run, runStoppable: run };
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
