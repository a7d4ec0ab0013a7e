import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import type { CheckTarget } from './types.js';
import type { StopSignal } from './run-stop.js';
import { abortError, describeError, quote } from './line-exchange.js';

// Errors here stay plain: only their message is used, as the `detail` of a
// failed run; the reporter's line that shows it names the service, port and check.

/** Enough of a failing response body to tell an operator why, short enough for a log line. */
export const BODY_SNIPPET_BYTES = 200;
/** A health endpoint whose status line and headers exceed this is not answering the question. */
export const MAX_HEAD_BYTES = 16 * 1024;
/**
 * Bytes of a failing answer's body (framing included) read before giving up
 * on it. Only a snippet is shown, so this only has to be enough to get past
 * chunk framing; without it a body that never ends (a chunk-size line that
 * never ends, an endless stream) was read until the timeout.
 */
export const MAX_BODY_BYTES = 16 * 1024;
/**
 * Bytes of body kept for a body expectation (`expect_body`): a health page,
 * not a download. Framing may take another MAX_BODY_BYTES on top.
 */
export const EXPECT_BODY_BYTES = 64 * 1024;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: |\r?$)/;
/** RFC 9112 chunk-size, optional whitespace and extensions. */
const CHUNK_SIZE = /^0*([0-9A-Fa-f]{1,8})[ \t]*(?:;.*)?$/;
/** 100 Continue and 103 Early Hints come once or twice; a stream of them is not an answer. */
const MAX_INTERIM_ANSWERS = 8;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
/** Shared by every plain exchange: `onread` callbacks run one at a time and copy what they keep. */
const READ_BUFFER = Buffer.allocUnsafeSlow(16 * 1024);
const EMPTY = Buffer.alloc(0);

export interface HttpAnswer {
  status: number;
  /**
   * For an accepted status with `readBody`: the body (up to
   * EXPECT_BODY_BYTES). For any other status: the start of the body, for the
   * failure message. For an accepted status without `readBody`: empty (the
   * fast path has no use for it).
   */
  body: string;
  /** why the body was cut short (malformed, too long, timed out) */
  note?: string;
}

export interface HttpExchangeOptions {
  /** connection options for HTTPS (verification, SNI, CA); undefined for plain HTTP */
  tls: ConnectionOptions | undefined;
  /** a HEAD answer has no body, whatever its Content-Length says */
  head: boolean;
  /** the statuses that pass: the answer ends at the status line for these unless `readBody` */
  accepts(status: number): boolean;
  /** read the body of an accepted answer (a body expectation is set) */
  readBody: boolean;
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
 *
 * Everything it reads is bounded (head 16 KiB, body 16 KiB) and each byte is
 * looked at a bounded number of times, so a hostile or broken service costs
 * at most a few dozen KiB and no CPU beyond reading them.
 */
export function httpExchange(target: CheckTarget, request: Buffer, signal: StopSignal, options: HttpExchangeOptions): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    // TLS verification is decided by the caller (tls-options.ts). Plain
    // connections read into one shared buffer (`onread`) instead of a fresh
    // allocation per read; the parser copies what it keeps.
    const socket: ExchangeSocket = options.tls
      ? connectTls({ ...options.tls, host: target.host, port: target.port })
      : connectTcp({ host: target.host, port: target.port, onread: ON_READ });
    // Events reach the exchange through its socket (the listeners are shared
    // functions, called with the socket as `this`): at 1,000 checks a second
    // nine closures per exchange were a visible part of what the reporter
    // allocated beyond the socket itself.
    const exchange = new Exchange(socket, signal, options, resolve, reject);
    socket[EXCHANGE] = exchange;
    if (options.tls) socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(request);
  });
}

const EXCHANGE = Symbol('http exchange');
type ExchangeSocket = Socket & { [EXCHANGE]?: Exchange };

const ON_READ = { buffer: READ_BUFFER, callback: onRead };

/** Returns true to keep reading (the `onread` contract). */
function onRead(this: ExchangeSocket, length: number): boolean {
  return this[EXCHANGE]!.feed(READ_BUFFER.subarray(0, length));
}

function onData(this: ExchangeSocket, chunk: Buffer): void {
  this[EXCHANGE]!.feed(chunk);
}

function onEnd(this: ExchangeSocket): void {
  this[EXCHANGE]!.ended();
}

function onError(this: ExchangeSocket, error: Error): void {
  this[EXCHANGE]!.fail(error);
}

function onClose(this: ExchangeSocket): void {
  this[EXCHANGE]!.closed();
}

/**
 * One exchange's way out: the first outcome only, after which it detaches
 * from the signal and destroys the socket, so nothing outlives the run; an
 * abort of the signal fails it with the abort's reason.
 */
class Exchange {
  private settled = false;
  private readonly parser: AnswerParser;
  private readonly onAbort = (): void => this.fail(abortError(this.signal));

  constructor(
    private readonly socket: Socket,
    private readonly signal: StopSignal,
    options: HttpExchangeOptions,
    private readonly resolve: (answer: HttpAnswer) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.parser = new AnswerParser(options);
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  feed(chunk: Buffer): boolean {
    if (this.settled) return false;
    this.conclude(this.parser.push(chunk));
    return !this.settled;
  }

  /** The server closed its side. */
  ended(): void {
    this.conclude(this.parser.end());
    // The error only when it is used: 'close' follows every exchange, and an Error captures a stack trace.
    if (!this.settled) this.fail(new Error(this.parser.status === 0 ? 'connection closed before an HTTP answer' : `connection closed in the middle of an HTTP ${this.parser.status} answer`));
  }

  /** The socket closed (after every exchange, the settled ones included). */
  closed(): void {
    if (!this.settled) this.fail(new Error('connection closed before an HTTP answer'));
  }

  /**
   * Once the status is known, a timeout (or a cut connection) still fails
   * the check with that status: "HTTP 500 (timed out reading the body)" says
   * more than "timed out".
   */
  fail(error: Error): void {
    if (!this.settle()) return;
    const answer = this.parser.partial(describeError(error));
    if (answer) this.resolve(answer);
    else this.reject(error);
  }

  private conclude(outcome: Outcome | undefined): void {
    if (!outcome || !this.settle()) return;
    if ('error' in outcome) this.reject(outcome.error);
    else this.resolve(outcome.answer);
  }

  /** True the first time only. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
    return true;
  }
}

type Outcome = { answer: HttpAnswer } | { error: Error };

/**
 * The answer as it arrives. Bytes are appended to one buffer that grows by
 * doubling up to the limits (a trickle of 1-byte reads copies each byte
 * about twice, not once per read), and every search resumes where the last
 * one stopped.
 */
class AnswerParser {
  status = 0;
  private buffer = EMPTY;
  private length = 0;
  private interim = 0;
  /** how far the status line / header end has been searched */
  private scanned = 0;
  private bodyStart = -1;
  private body: BodyReader | undefined;
  /** the body is read for a body expectation, not for a failure's snippet */
  private wholeBody = false;

  constructor(private readonly options: Pick<HttpExchangeOptions, 'head' | 'accepts' | 'readBody'>) {}

  push(chunk: Buffer): Outcome | undefined {
    if (this.length === 0 && this.status === 0) {
      const accepted = this.acceptedAtOnce(chunk);
      if (accepted) return accepted;
    }
    let rest = chunk;
    for (;;) {
      // Only as much as the current part (head or body) may still take; what
      // is left over is offered again once the head is complete.
      const room = Math.max(0, this.limit() - this.length);
      const keep = rest.length > room ? rest.subarray(0, room) : rest;
      this.append(keep);
      const outcome = this.advance(false);
      if (outcome) return outcome;
      rest = rest.subarray(keep.length);
      if (rest.length === 0) return undefined;
      if (this.limit() <= this.length) return this.overLimit();
    }
  }

  /**
   * The fast path on the first read, when it holds the status line: an
   * accepted status without a body to read is the whole answer, and nothing
   * needs to be copied. Anything else goes the long way (which says why).
   */
  private acceptedAtOnce(chunk: Buffer): Outcome | undefined {
    if (this.options.readBody) return undefined;
    const lineEnd = chunk.indexOf(0x0a);
    if (lineEnd === -1 || lineEnd > MAX_HEAD_BYTES) return undefined;
    const match = STATUS_LINE.exec(chunk.toString('latin1', 0, lineEnd));
    if (!match) return undefined;
    const status = Number(match[1]);
    if (status < 200 || !this.options.accepts(status)) return undefined;
    this.status = status;
    return { answer: { status, body: '' } };
  }

  /** The server closed: what was read is all there is. */
  end(): Outcome | undefined {
    return this.advance(true);
  }

  /** The answer so far, when a status is known; `note` says why it stops there. */
  partial(note: string): HttpAnswer | undefined {
    if (this.status === 0) return undefined;
    return { status: this.status, body: this.body?.snippet() ?? '', note };
  }

  private limit(): number {
    if (this.bodyStart === -1) return MAX_HEAD_BYTES + 1;
    return this.bodyStart + MAX_BODY_BYTES + (this.wholeBody ? EXPECT_BODY_BYTES : 0);
  }

  private overLimit(): Outcome {
    if (this.status === 0) return { error: new Error(`no HTTP status line in the first ${MAX_HEAD_BYTES} bytes`) };
    const what = this.bodyStart === -1 ? `headers longer than ${MAX_HEAD_BYTES} bytes` : `body longer than ${this.limit() - this.bodyStart} bytes`;
    return { answer: { status: this.status, body: this.body?.snippet() ?? '', note: `stopped reading: ${what}` } };
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.length + bytes.length > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.length + bytes.length, Math.min(2 * this.buffer.length, this.limit()), 512));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }

  private advance(ended: boolean): Outcome | undefined {
    for (;;) {
      if (this.status === 0) {
        const lineEnd = this.buffer.subarray(0, this.length).indexOf(0x0a, this.scanned);
        if (lineEnd === -1) {
          this.scanned = this.length;
          if (this.length > MAX_HEAD_BYTES) return { error: new Error(`no HTTP status line in the first ${MAX_HEAD_BYTES} bytes`) };
          return undefined;
        }
        const line = this.buffer.toString('latin1', 0, lineEnd);
        const match = STATUS_LINE.exec(line);
        if (!match) return { error: new Error(`not an HTTP answer: ${quote(line.replace(/\r$/, ''), 80)}`) };
        this.status = Number(match[1]);
        // The fast path: an accepted status without a body expectation is the whole answer.
        if (this.status >= 200 && this.options.accepts(this.status) && !this.options.readBody) return { answer: { status: this.status, body: '' } };
        this.scanned = lineEnd;
      }
      if (this.bodyStart === -1) {
        const headEnd = this.buffer.subarray(0, this.length).indexOf(CRLF_CRLF, Math.max(0, this.scanned - 3));
        if (headEnd === -1) {
          this.scanned = this.length;
          if (ended) return { answer: { status: this.status, body: '' } };
          if (this.length > MAX_HEAD_BYTES) return this.overLimit();
          return undefined;
        }
        if (this.status < 200 && this.status !== 101) {
          // An interim answer (100 Continue, 103 Early Hints): the real one follows.
          // Its bytes are dropped, so a stream of them cannot grow the buffer.
          this.interim += 1;
          if (this.interim > MAX_INTERIM_ANSWERS) return { error: new Error(`more than ${MAX_INTERIM_ANSWERS} interim (1xx) answers`) };
          const next = headEnd + CRLF_CRLF.length;
          this.buffer.copy(this.buffer, 0, next, this.length);
          this.length -= next;
          this.scanned = 0;
          this.status = 0;
          continue;
        }
        if (this.options.head || this.status === 204 || this.status === 304 || this.status === 101) return { answer: { status: this.status, body: '' } };
        this.bodyStart = headEnd + CRLF_CRLF.length;
        this.wholeBody = this.options.readBody && this.options.accepts(this.status);
        this.body = bodyReader(this.buffer.toString('latin1', 0, headEnd), this.wholeBody ? EXPECT_BODY_BYTES : BODY_SNIPPET_BYTES);
      }
      const body = this.body!;
      const problem = body.read(this.buffer.subarray(this.bodyStart, this.length));
      if (problem !== undefined) return { answer: { status: this.status, body: body.snippet(), note: problem } };
      if (body.complete || ended) return { answer: { status: this.status, body: body.snippet() } };
      if (body.snippetFull()) {
        const answer: HttpAnswer = { status: this.status, body: body.snippet() };
        if (this.wholeBody) answer.note = `read only the first ${EXPECT_BODY_BYTES} bytes of the body`;
        return { answer };
      }
      return undefined;
    }
  }
}

/** Collects the first `keepBytes` of a body from everything received after the head. */
interface BodyReader {
  /** `bytes` is the whole body so far (it only grows); returns a reason the body cannot be read further */
  read(bytes: Buffer): string | undefined;
  readonly complete: boolean;
  snippetFull(): boolean;
  snippet(): string;
}

function bodyReader(head: string, keepBytes: number): BodyReader {
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return new ChunkedReader(keepBytes);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  return new PlainReader(keepBytes, length ? Number(length[1]) : undefined);
}

abstract class SnippetReader {
  protected readonly parts: Buffer[] = [];
  protected kept = 0;

  constructor(private readonly keepBytes: number) {}

  snippetFull(): boolean {
    return this.kept >= this.keepBytes;
  }

  snippet(): string {
    const text = Buffer.concat(this.parts).subarray(0, this.keepBytes).toString('utf8');
    // A failure's snippet is trimmed for the log line; a body to match is kept as sent.
    return this.keepBytes === BODY_SNIPPET_BYTES ? text.trim() : text;
  }

  /** Copies: the bytes may live in a buffer that is reused. */
  protected keep(bytes: Buffer): void {
    const wanted = Math.min(bytes.length, this.keepBytes - this.kept);
    if (wanted <= 0) return;
    this.parts.push(Buffer.from(bytes.subarray(0, wanted)));
    this.kept += wanted;
  }
}

class PlainReader extends SnippetReader implements BodyReader {
  complete = false;
  private seen = 0;

  constructor(keepBytes: number, private readonly expected: number | undefined) {
    super(keepBytes);
  }

  read(bytes: Buffer): undefined {
    this.keep(bytes.subarray(this.seen));
    this.seen = bytes.length;
    if (this.expected !== undefined && bytes.length >= this.expected) this.complete = true;
    return undefined;
  }
}

/** De-chunks as bytes arrive, resuming where it stopped; a malformed size line ends the reading. */
class ChunkedReader extends SnippetReader implements BodyReader {
  complete = false;
  /** where the next unread chunk-size line (or chunk data) starts */
  private offset = 0;
  /** data bytes of the current chunk still to come; -1 while a size line is expected */
  private remaining = -1;
  /** how far the current size line has been searched for its end */
  private scanned = 0;

  read(bytes: Buffer): string | undefined {
    for (;;) {
      if (this.remaining === -1) {
        const lineEnd = bytes.indexOf(0x0a, Math.max(this.offset, this.scanned));
        if (lineEnd === -1) {
          this.scanned = bytes.length;
          return undefined;
        }
        const line = bytes.toString('latin1', this.offset, lineEnd).replace(/\r$/, '');
        const match = CHUNK_SIZE.exec(line);
        if (!match) return `malformed chunked body: chunk size ${quote(line, 40)}`;
        const size = Number.parseInt(match[1]!, 16);
        this.offset = lineEnd + 1;
        if (size === 0) {
          this.complete = true;
          return undefined;
        }
        this.remaining = size;
      }
      const available = Math.min(this.remaining, bytes.length - this.offset);
      this.keep(bytes.subarray(this.offset, this.offset + available));
      this.offset += available;
      this.remaining -= available;
      if (this.remaining > 0) return undefined;
      // The chunk's data ends with CRLF before the next size line.
      if (bytes.length < this.offset + 2) {
        this.remaining = 0;
        return undefined;
      }
      if (bytes[this.offset] !== 0x0d || bytes[this.offset + 1] !== 0x0a) return 'malformed chunked body: chunk data not followed by CRLF';
      this.offset += 2;
      this.remaining = -1;
      this.scanned = this.offset;
    }
  }
}
