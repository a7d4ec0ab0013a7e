import { z } from 'zod';
import type { CheckPlugin } from './plugin-types.js';
import type { CheckOutcome, CheckTarget } from './types.js';
import { describeError, lineExchange, quote } from './line-exchange.js';

export const redisCheckSchema = z
  .strictObject({
    password: z.string().min(1).optional(),
    /** Redis 6 ACL user; needs `password` */
    username: z.string().min(1).optional(),
  })
  .superRefine((value, context) => {
    if (value.username !== undefined && value.password === undefined) {
      context.addIssue({ code: 'custom', path: ['password'], message: 'is required when "username" is set' });
    }
  });

export type RedisCheckConfig = z.infer<typeof redisCheckSchema>;

/** A RESP array of bulk strings: safe for passwords with spaces or quotes, which the inline form is not. */
export function respCommand(...parts: string[]): Buffer {
  const pieces = [Buffer.from(`*${parts.length}\r\n`)];
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    pieces.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(pieces);
}

/** The original sent `PING` without a line end, so Redis waited for the rest of the line and the check hung. */
export const PING = Buffer.from('PING\r\n');

/**
 * PING over a fresh connection; passes on `+PONG`. With `password`, AUTH is
 * pipelined in front of PING and must answer `+OK`.
 *
 * The exchange is written here over node:net rather than with a Redis client
 * library: it is two fixed commands answered by one-line simple strings, and a
 * client's reconnect logic and offline command queue would hide exactly the
 * failures a health check must see; they also do not take an AbortSignal, and
 * each run here must use a new connection that is gone when the run ends.
 */
export const redisCheck: CheckPlugin<RedisCheckConfig> = {
  kind: 'redis',
  schema: redisCheckSchema,
  create(config: RedisCheckConfig, target: CheckTarget) {
    const where = `redis ${target.host}:${target.port}`;
    const auth = config.password === undefined ? undefined : config.username === undefined ? respCommand('AUTH', config.password) : respCommand('AUTH', config.username, config.password);
    const request = auth ? Buffer.concat([auth, PING]) : PING;
    const wanted = auth ? 2 : 1;
    return {
      async run(signal: AbortSignal): Promise<CheckOutcome> {
        try {
          const lines = await lineExchange(target, signal, request, wanted);
          if (auth) {
            const authReply = lines.shift();
            // The reply text never contains the password, so it is safe to show.
            if (authReply !== '+OK') return { passed: false, detail: `${where}: AUTH ${authReply === undefined ? 'got no answer' : `answered ${quote(authReply)}`}` };
          }
          const reply = lines[0];
          if (reply === '+PONG') return { passed: true, detail: `${where}: +PONG` };
          return { passed: false, detail: `${where}: PING ${reply === undefined ? 'got no answer' : `answered ${quote(reply)}, expected "+PONG"`}` };
        } catch (error) {
          return { passed: false, detail: `${where}: ${describeError(error)}` };
        }
      },
    };
  },
};
