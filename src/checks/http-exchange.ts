import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { CheckTarget } from './types.js';
import { abortError, quote, settleOnce } from './line-exchange.js';

/** Enough of a failing response body to tell an operator why, short enough for a log line. */
export const BODY_SNIPPET_BYTES = 200;
/** A health endpoint whose status line and headers exceed this is not answering the question. */
const MAX_HEAD_BYTES = 16 * 1024;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: |\r?$)/;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
/** Shared by every plain exchange: `onread` callbacks run one at a time and copy what they keep. */
const READ_BUFFER = Buffer.allocUnsafeSlow(16 * 1024);

export interface HttpAnswer {
  status: number;
  /** the start of the body, for non-2xx answers only (a passing check has no use for it) */
  body: string;
}

export interface HttpExchangeOptions {
  /** `{ servername }` or `{}` for TLS; undefined for plain HTTP */
  tls: { servername?: string } | undefined;
  /** a HEAD answer has no body, whatever its Content-Length says */
  head: boolean;
}

/**
 * One HTTP/1.1 request on a new connection, answered by its status.
 *
 * Why not node:http: the check needs the status line and, on failure, a few
 * hundred bytes of body. node:http builds a ClientRequest, a parser and an
 * IncomingMessage stream per request, which made the checks the reporter's
 * main cost (1,000 checks/s: ~20 % of a core of user time, ~9 % with this
 * exchange, measured in one run). The connection is still a new one each run,
 * as HAProxy's own checks do: a reused keep-alive socket could pass on a
 * service that no longer accepts connections. `request` must ask for
 * `Connection: close`, so the server ends the answer by closing.
 */
export function httpExchange(target: CheckTarget, request: Buffer, signal: AbortSignal, options: HttpExchangeOptions): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    // Certificates are not verified: the check asks a service on this machine
    // whether it is healthy, it does not authenticate it, and local services
    // commonly present self-signed certificates or ones for their public name.
    // Plain connections read into one shared buffer (`onread`) instead of a
    // fresh allocation per read; what must outlive the callback is copied.
    const socket: Socket = options.tls
      ? connectTls({ host: target.host, port: target.port, rejectUnauthorized: false, ...options.tls })
      : connectTcp({ host: target.host, port: target.port, onread: { buffer: READ_BUFFER, callback: (length: number) => feed(READ_BUFFER.subarray(0, length)) } });
    let received: Buffer | undefined;
    let status = 0;
    const { settle, settled } = settleOnce(socket, signal, reject);

    /** Returns true once the answer is known. */
    const advance = (ended: boolean): boolean => {
      if (received === undefined) return false;
      for (;;) {
        if (status === 0) {
          const lineEnd = received.indexOf(0x0a);
          if (lineEnd === -1) {
            if (received.length > MAX_HEAD_BYTES) settle(() => reject(new Error(`no HTTP status line in the first ${MAX_HEAD_BYTES} bytes`)));
            return settled();
          }
          const line = received.toString('latin1', 0, lineEnd);
          const match = STATUS_LINE.exec(line);
          if (!match) {
            settle(() => reject(new Error(`not an HTTP answer: ${quote(line.replace(/\r$/, ''), 80)}`)));
            return true;
          }
          status = Number(match[1]);
          if (status >= 200 && status < 300) {
            settle(() => resolve({ status, body: '' }));
            return true;
          }
        }
        const headEnd = received.indexOf(CRLF_CRLF);
        if (headEnd === -1) {
          if (received.length > MAX_HEAD_BYTES) settle(() => resolve({ status, body: '' }));
          else if (ended) settle(() => resolve({ status, body: '' }));
          return settled();
        }
        if (status < 200 && status !== 101) {
          // An interim answer (100 Continue, 103 Early Hints): the real one follows.
          received = received.subarray(headEnd + CRLF_CRLF.length);
          status = 0;
          continue;
        }
        const head = received.toString('latin1', 0, headEnd);
        const bodyBytes = received.subarray(headEnd + CRLF_CRLF.length);
        if (options.head || status === 204 || status === 304 || status === 101) {
          settle(() => resolve({ status, body: '' }));
          return true;
        }
        const body = readBody(head, bodyBytes);
        if (body.complete || ended || body.bytes.length >= BODY_SNIPPET_BYTES) {
          settle(() => resolve({ status, body: body.bytes.subarray(0, BODY_SNIPPET_BYTES).toString('utf8').trim() }));
          return true;
        }
        return false;
      }
    };

    /** Returns true to keep reading (the `onread` contract). */
    const feed = (chunk: Buffer): boolean => {
      received = received === undefined ? chunk : Buffer.concat([received, chunk]);
      if (!advance(false) && received.buffer === READ_BUFFER.buffer) received = Buffer.from(received);
      return true;
    };
    if (options.tls) socket.on('data', feed);
    socket.on('end', () => {
      if (!advance(true)) settle(() => reject(new Error(status === 0 ? 'connection closed before an HTTP answer' : `connection closed in the middle of an HTTP ${status} answer`)));
    });
    socket.on('error', (error) => settle(() => reject(error)));
    socket.on('close', () => settle(() => reject(new Error('connection closed before an HTTP answer'))));
    socket.write(request);
  });
}

/** The body received so far, de-chunked, and whether it is all there. */
function readBody(head: string, bytes: Buffer): { bytes: Buffer; complete: boolean } {
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return readChunked(bytes);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) return { bytes, complete: bytes.length >= Number(length[1]) };
  return { bytes, complete: false };
}

function readChunked(bytes: Buffer): { bytes: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', offset);
    if (lineEnd === -1) break;
    const size = Number.parseInt(bytes.toString('latin1', offset, lineEnd), 16);
    if (!Number.isFinite(size)) break;
    if (size === 0) return { bytes: Buffer.concat(parts), complete: true };
    const start = lineEnd + 2;
    parts.push(bytes.subarray(start, Math.min(start + size, bytes.length)));
    if (start + size + 2 > bytes.length) break;
    offset = start + size + 2;
  }
  return { bytes: Buffer.concat(parts), complete: false };
}
