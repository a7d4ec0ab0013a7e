import { connect, type Socket } from 'node:net';
import type { CheckTarget } from './types.js';
import type { StopSignal } from './run-stop.js';

// Errors here stay plain: only their message is used, as the `detail` of a
// failed run; the reporter's line that shows it names the service, port and check.

/** A health endpoint that answers with more than this without a line end is not answering the question. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * One short TCP conversation for the tcp and redis checks: connect, optionally
 * send `query`, read `wanted` lines (without their `\n` or `\r\n`). Resolves
 * with fewer lines if the peer closes first (a last unterminated line counts),
 * so callers can say what they got. The socket is destroyed on every way out,
 * including abort, so a hung service never keeps a file descriptor.
 */
export function lineExchange(target: CheckTarget, signal: StopSignal, query: string | Buffer | undefined, wanted: number): Promise<string[]> {
  return new Promise<string[]>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const socket = connect({ host: target.host, port: target.port });
    const chunks: Buffer[] = [];
    let received = 0;
    const { settle } = settleOnce(socket, signal, reject);

    const complete = (ended: boolean): boolean => {
      const lines = splitLines(Buffer.concat(chunks, received), ended);
      if (lines.length >= wanted) {
        settle(() => resolve(lines.slice(0, wanted)));
        return true;
      }
      if (ended) settle(() => resolve(lines));
      return ended;
    };

    socket.setNoDelay(true);
    socket.on('connect', () => {
      if (wanted === 0) {
        settle(() => resolve([]));
        return;
      }
      if (query !== undefined) socket.write(query);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (complete(false)) return;
      if (received > MAX_RESPONSE_BYTES) settle(() => reject(new Error(`answered more than ${MAX_RESPONSE_BYTES} bytes without the expected line end`)));
    });
    socket.on('end', () => complete(true));
    socket.on('error', (error) => settle(() => reject(error)));
    socket.on('close', () => settle(() => reject(new Error('connection closed before an answer'))));
  });
}

/**
 * The one way out of a check's socket conversation: `settle(outcome)` runs the
 * first outcome only, detaches from the signal and destroys the socket, so
 * nothing outlives the run; an abort of `signal` settles with its reason.
 */
export function settleOnce(socket: Socket, signal: StopSignal, reject: (error: Error) => void): { settle(outcome: () => void): void; settled(): boolean } {
  let settled = false;
  const settle = (outcome: () => void): void => {
    if (settled) return;
    settled = true;
    signal.removeEventListener('abort', onAbort);
    socket.destroy();
    outcome();
  };
  const onAbort = (): void => settle(() => reject(abortError(signal)));
  signal.addEventListener('abort', onAbort, { once: true });
  return { settle, settled: () => settled };
}

function splitLines(buffer: Buffer, ended: boolean): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let index = buffer.indexOf(0x0a); index !== -1; index = buffer.indexOf(0x0a, start)) {
    lines.push(stripCr(buffer.subarray(start, index).toString('utf8')));
    start = index + 1;
  }
  if (ended && start < buffer.length) lines.push(stripCr(buffer.subarray(start).toString('utf8')));
  return lines;
}

const stripCr = (line: string): string => (line.endsWith('\r') ? line.slice(0, -1) : line);

/** The abort reason as an Error, so `detail` says "timed out" rather than "[object DOMException]". */
export function abortError(signal: StopSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  if (reason instanceof DOMException) return new Error(reason.message);
  return new Error(reason === undefined ? 'aborted' : `aborted: ${String(reason)}`);
}

/** Error text for a `detail`, without stack or class name. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Keeps user-facing details one short line: a response body or line may be arbitrary bytes. */
export function quote(text: string, max = 120): string {
  const json = JSON.stringify(text);
  return json.length > max ? `${json.slice(0, max - 4)}..."` : json;
}
