import { connect } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { CheckTarget } from './types.js';
import type { StopSignal } from './run-stop.js';
import { abortError, settleOnce } from './line-exchange.js';

/** Bytes of answer the tcp check's `expect` looks at; a health answer is short. */
export const MAX_EXPECT_BYTES = 16 * 1024;

export interface ExpectAnswer {
  /** everything read (up to MAX_EXPECT_BYTES), as UTF-8 */
  text: string;
  /** the answer met the expectation */
  met: boolean;
  /** why reading stopped without meeting it: closed, the byte limit, or the abort reason (timeout) */
  stopped?: string;
}

/**
 * Connects, sends `query` (if any) and reads until `met(text)` holds, the
 * server closes, MAX_EXPECT_BYTES have come, or `signal` aborts. Unlike a
 * line exchange it resolves on a timeout too, with what came back so far, so
 * the failure can say what the service did answer. Rejects only when no
 * connection is made or it fails before anything is read.
 */
export function expectExchange(target: CheckTarget, signal: StopSignal, query: string | undefined, met: (text: string) => boolean): Promise<ExpectAnswer> {
  return new Promise<ExpectAnswer>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const socket = connect({ host: target.host, port: target.port });
    // Decoded as it comes (a character split over two reads stays whole), so a
    // trickle of small reads costs one test per read, not a re-copy of the answer.
    const decoder = new StringDecoder('utf8');
    let text = '';
    let received = 0;
    let connected = false;
    const stop = (why: string): void => settle(() => resolve({ text, met: false, stopped: why }));
    // Called by settleOnce on abort, already settling: resolve directly with what was read.
    const { settle } = settleOnce(socket, signal, (error) => (connected ? resolve({ text, met: false, stopped: error.message }) : reject(error)));

    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      if (query !== undefined) socket.write(query);
    });
    socket.on('data', (chunk: Buffer) => {
      const room = MAX_EXPECT_BYTES - received;
      received += chunk.length;
      text += decoder.write(chunk.length > room ? chunk.subarray(0, room) : chunk);
      if (met(text)) settle(() => resolve({ text, met: true }));
      else if (received >= MAX_EXPECT_BYTES) stop(`stopped reading at ${MAX_EXPECT_BYTES} bytes`);
    });
    socket.on('end', () => stop('connection closed'));
    socket.on('error', (error) => (connected && received > 0 ? stop(error.message) : settle(() => reject(error))));
    socket.on('close', () => stop('connection closed'));
  });
}
