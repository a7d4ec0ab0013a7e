import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { PING, redisCheck, redisCheckSchema, respCommand, type RedisCheckConfig } from '../../src/checks/redis.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { PluginHelper } from '../../src/lib/plugin-helper.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';

const helper: PluginHelper = { logger: silentLogger(), name: 'cache', file: '/etc/lighthouse/services/cache.yaml', now: Date.now };

/**
 * Parses RESP requests as Redis does: inline commands (`PING\r\n`) and arrays
 * of bulk strings. Returns the complete commands and the unparsed rest.
 */
function parseCommands(buffer: Buffer): { commands: string[][]; rest: Buffer } {
  const commands: string[][] = [];
  let offset = 0;
  const readLine = (): string | undefined => {
    const end = buffer.indexOf('\r\n', offset);
    if (end === -1) return undefined;
    const line = buffer.subarray(offset, end).toString('utf8');
    offset = end + 2;
    return line;
  };
  while (offset < buffer.length) {
    const start = offset;
    const head = readLine();
    if (head === undefined) break;
    if (!head.startsWith('*')) {
      commands.push(head.split(' '));
      continue;
    }
    const count = Number(head.slice(1));
    const parts: string[] = [];
    let complete = true;
    for (let index = 0; index < count; index += 1) {
      const sizeLine = readLine();
      if (sizeLine === undefined || buffer.length < offset + Number(sizeLine.slice(1)) + 2) {
        complete = false;
        break;
      }
      const size = Number(sizeLine.slice(1));
      parts.push(buffer.subarray(offset, offset + size).toString('utf8'));
      offset += size + 2;
    }
    if (!complete) {
      offset = start;
      break;
    }
    commands.push(parts);
  }
  return { commands, rest: buffer.subarray(offset) };
}

interface FakeRedis {
  port: number;
  commands: string[][];
  sockets: Set<Socket>;
  close(): Promise<void>;
}

interface FakeRedisOptions {
  password?: string;
  username?: string;
  /** answer to PING instead of +PONG */
  pingReply?: string;
  /** accept connections, never answer */
  silent?: boolean;
}

/** Just enough of Redis: AUTH (with -NOAUTH / -WRONGPASS like Redis 6+) and PING. */
async function startFakeRedis(options: FakeRedisOptions = {}): Promise<FakeRedis> {
  const commands: string[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending: Buffer = Buffer.alloc(0);
    let authenticated = options.password === undefined;
    socket.on('data', (chunk: Buffer) => {
      const parsed = parseCommands(Buffer.concat([pending, chunk]));
      pending = parsed.rest;
      for (const command of parsed.commands) {
        commands.push(command);
        if (options.silent) continue;
        const name = command[0]?.toUpperCase();
        if (name === 'AUTH') {
          const [user, password] = command.length === 3 ? [command[1], command[2]] : ['default', command[1]];
          authenticated = password === options.password && user === (options.username ?? 'default');
          socket.write(authenticated ? '+OK\r\n' : '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
        } else if (name === 'PING') {
          socket.write(authenticated ? `${options.pingReply ?? '+PONG'}\r\n` : '-NOAUTH Authentication required.\r\n');
        } else {
          socket.write(`-ERR unknown command '${command[0]}'\r\n`);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    commands,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function run(config: RedisCheckConfig, port: number, signal: AbortSignal = new AbortController().signal) {
  return redisCheck.create(config, { host: '127.0.0.1', port }, helper).run(signal);
}

describe('redis check schema', () => {
  it('needs no settings', () => {
    assert.deepEqual(redisCheckSchema.parse({}), {});
  });

  it('rejects a username without a password', () => {
    const result = redisCheckSchema.safeParse({ username: 'health' });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['password']);
  });

  it('rejects unknown settings', () => {
    assert.equal(redisCheckSchema.safeParse({ db: 1 }).success, false);
  });
});

describe('redis check wire format', () => {
  it('sends PING with its line end', () => {
    assert.equal(PING.toString(), 'PING\r\n');
  });

  it('encodes commands as RESP arrays of bulk strings', () => {
    assert.equal(respCommand('AUTH', 'p ss"').toString(), '*2\r\n$4\r\nAUTH\r\n$5\r\np ss"\r\n');
    assert.equal(respCommand('AUTH', 'é').toString('latin1'), '*2\r\n$4\r\nAUTH\r\n$2\r\n\u00c3\u00a9\r\n');
  });
});

describe('redis check', () => {
  let open: FakeRedis;
  let secured: FakeRedis;
  let acl: FakeRedis;
  let loading: FakeRedis;
  let silent: FakeRedis;

  before(async () => {
    open = await startFakeRedis();
    secured = await startFakeRedis({ password: 's3cret with space' });
    acl = await startFakeRedis({ username: 'health', password: 'pw' });
    loading = await startFakeRedis({ pingReply: '-LOADING Redis is loading the dataset in memory' });
    silent = await startFakeRedis({ silent: true });
  });

  after(async () => {
    await Promise.all([open, secured, acl, loading, silent].map((server) => server.close()));
  });

  it('passes on +PONG, sending exactly one PING', async () => {
    const before = open.commands.length;
    const outcome = await run({}, open.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.deepEqual(open.commands.slice(before), [['PING']]);
    await waitFor(() => open.sockets.size === 0, 'the check to close its connection');
  });

  it('fails on an error reply and shows it', async () => {
    const outcome = await run({}, loading.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /redis 127\.0\.0\.1:\d+: PING answered "-LOADING/);
  });

  it('fails with NOAUTH when the server needs a password and none is set', async () => {
    const outcome = await run({}, secured.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /NOAUTH/);
  });

  it('authenticates first when a password is set', async () => {
    const before = secured.commands.length;
    const outcome = await run({ password: 's3cret with space' }, secured.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.deepEqual(secured.commands.slice(before), [['AUTH', 's3cret with space'], ['PING']]);
  });

  it('fails on a wrong password without showing it', async () => {
    const outcome = await run({ password: 'wrong-password' }, secured.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /AUTH answered "-WRONGPASS/);
    assert.doesNotMatch(outcome.detail ?? '', /wrong-password/);
  });

  it('sends the ACL user name with the password', async () => {
    const outcome = await run({ username: 'health', password: 'pw' }, acl.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.deepEqual(acl.commands.at(-2), ['AUTH', 'health', 'pw']);
  });

  it('fails when nothing listens', async () => {
    const outcome = await run({}, await freePort());
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /ECONNREFUSED/);
  });

  it('is aborted by its signal when the server never answers, and closes its socket', async () => {
    const controller = new AbortController();
    const before = silent.commands.length;
    const pending = run({}, silent.port, controller.signal);
    await waitFor(() => silent.commands.length > before, 'PING to reach the silent server');
    controller.abort(new Error('timed out after 100 ms'));
    const outcome = await pending;
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /timed out after 100 ms/);
    await waitFor(() => silent.sockets.size === 0, 'the aborted check to close its socket');
  });
});
