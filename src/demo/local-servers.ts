import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ManagedChild } from './processes.js';
import { pollUntil } from '../lib/poll.js';
import { fourLetterWord } from '../discovery/zookeeper/four-letter-word.js';

// Errors here stay plain: they reach the user only through the demo command,
// which prints them under LH_DEMO_START (src/cli/demo-command.ts).

/** Debian's ZooKeeper package: the server class path the demo (and the tests) run. */
const ZOOKEEPER_CLASSPATH = '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar';
/** A small heap and a quick-starting JIT: the demo's ZooKeeper holds a few dozen znodes. */
const JAVA_OPTS = ['-Xmx128m', '-Xss512k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

/** A standalone ZooKeeper in `dir`, listening on 127.0.0.1:`port` only. */
export async function startZookeeper(dir: string, port: number): Promise<ManagedChild> {
  const dataDir = join(dir, 'zookeeper');
  await mkdir(dataDir, { recursive: true });
  const configFile = join(dataDir, 'zoo.cfg');
  const lines = [
    'tickTime=500',
    `dataDir=${dataDir}`,
    `clientPort=${port}`,
    'clientPortAddress=127.0.0.1',
    'initLimit=10',
    'syncLimit=5',
    // The embedded admin web server would listen on 8080 on every address.
    'admin.enableServer=false',
    '4lw.commands.whitelist=srvr,ruok,mntr',
    'forceSync=no',
  ];
  await writeFile(configFile, `${lines.join('\n')}\n`);
  const child = ManagedChild.start({
    name: 'zookeeper',
    command: 'java',
    args: [...JAVA_OPTS, '-cp', ZOOKEEPER_CLASSPATH, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', configFile],
    cwd: dataDir,
    logFile: join(dir, 'zookeeper.log'),
  });
  await pollUntil(
    async () => {
      if (child.exit) throw new Error(`ZooKeeper ${child.exit} (see ${join(dir, 'zookeeper.log')})`);
      return /Mode: standalone/.test(await fourLetterWord(port, 'srvr'));
    },
    `ZooKeeper on 127.0.0.1:${port}`,
    30_000,
    100,
  ).catch(async (error: unknown) => {
    await child.stop(2_000);
    throw error;
  });
  return child;
}

/** A redis-server on 127.0.0.1:`port`, persistence off, files in `dir`. */
export async function startRedis(dir: string, name: string, port: number): Promise<ManagedChild> {
  const dataDir = join(dir, name);
  await mkdir(dataDir, { recursive: true });
  const child = ManagedChild.start({
    name,
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dataDir],
    cwd: dataDir,
    logFile: join(dir, `${name}.log`),
  });
  await pollUntil(
    async () => {
      if (child.exit) throw new Error(`${name} ${child.exit} (see ${join(dir, `${name}.log`)})`);
      return (await redisCommand(port, ['PING'])) === 'PONG';
    },
    `${name} on 127.0.0.1:${port}`,
    15_000,
  ).catch(async (error: unknown) => {
    await child.stop(2_000);
    throw error;
  });
  return child;
}

export type RespValue = string | number | null;

/**
 * One Redis command on a fresh connection, with a tiny RESP reader that is
 * enough for the demo (simple strings, errors, integers, bulk strings).
 * Fresh connections are on purpose: each one goes through HAProxy's
 * balancing, so the visits spread over the cache cluster.
 */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 2_000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`redis ${args[0] ?? ''}: no answer`)), timeoutMs);
    const finish = (error: Error | undefined, value?: RespValue): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const reply = parseReply(buffer);
      if (reply === undefined) return;
      if (reply instanceof Error) finish(reply);
      else finish(undefined, reply.value);
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`redis ${args[0] ?? ''}: connection closed before a reply`)));
  });
}

/** undefined: incomplete, wait for more bytes. */
function parseReply(text: string): { value: RespValue } | Error | undefined {
  const end = text.indexOf('\r\n');
  if (end < 0) return undefined;
  const head = text.slice(1, end);
  switch (text[0]) {
    case '+':
      return { value: head };
    case '-':
      return new Error(`redis: ${head}`);
    case ':':
      return { value: Number(head) };
    case '$': {
      const length = Number(head);
      if (length < 0) return { value: null };
      const body = text.slice(end + 2);
      if (Buffer.byteLength(body) < length + 2) return undefined;
      return { value: body.slice(0, length) };
    }
    default:
      return new Error(`redis: unexpected reply ${JSON.stringify(text.slice(0, 20))}`);
  }
}
