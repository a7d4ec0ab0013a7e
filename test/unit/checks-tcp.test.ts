import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { tcpCheck, tcpCheckSchema, wireQuery, type TcpCheckConfig } from '../../src/checks/tcp.js';
import { silentLogger } from '../../src/lib/logger.js';
import { parseConfigFile } from '../../src/config/parse.js';
import { createRegistries } from '../../src/plugins/registry.js';
import type { PluginHelper } from '../../src/lib/plugin-helper.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';

const helper: PluginHelper = { logger: silentLogger(), name: 'webapp', file: '/etc/lighthouse/services/webapp.yaml', now: Date.now };

interface TestServer {
  port: number;
  received: string[];
  sockets: Set<Socket>;
  server: Server;
  close(): Promise<void>;
}

/** A server on 127.0.0.1:0; `onData` decides what each connection answers. */
async function startServer(onData: (socket: Socket, data: string) => void = () => undefined): Promise<TestServer> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      received.push(buffer);
      onData(socket, buffer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    received,
    sockets,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function parse(config: unknown): TcpCheckConfig {
  return tcpCheckSchema.parse(config);
}

function run(config: TcpCheckConfig, port: number, signal: AbortSignal = new AbortController().signal) {
  return tcpCheck.create(config, { host: '127.0.0.1', port }, helper).run(signal);
}

describe('tcp check schema', () => {
  it('accepts neither query nor response', () => {
    assert.deepEqual(parse({}), {});
  });

  it('accepts both', () => {
    assert.deepEqual(parse({ query: 'ruok', response: 'imok' }), { query: 'ruok', response: 'imok' });
  });

  it('rejects a query without a response, naming the missing setting', () => {
    const result = tcpCheckSchema.safeParse({ query: 'ruok' });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['response']);
  });

  it('rejects a response without a query', () => {
    const result = tcpCheckSchema.safeParse({ response: 'imok' });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['query']);
  });

  it('rejects unknown settings', () => {
    assert.equal(tcpCheckSchema.safeParse({ send: 'x' }).success, false);
  });

  it('reports a half-configured query through the config parser with file and setting', () => {
    const registries = createRegistries();
    registries.checks.register(tcpCheck);
    const text = 'port: 2181\ndiscovery: zk\nchecks:\n  interval: 2\n  tcp:\n    rise: 2\n    fall: 2\n    query: ruok\n';
    const parsed = parseConfigFile('service', '/etc/lighthouse/services/zk.yaml', text, 'zk', registries);
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.equal(parsed.error[0]?.file, '/etc/lighthouse/services/zk.yaml');
    assert.equal(parsed.error[0]?.setting, 'checks.tcp.response');
    assert.match(parsed.error[0]?.message ?? '', /set both or neither/);
  });

  it('appends a line end only when the query has none', () => {
    assert.equal(wireQuery('ruok'), 'ruok\n');
    assert.equal(wireQuery('stats\r\n'), 'stats\r\n');
    assert.equal(wireQuery('ping\n'), 'ping\n');
  });
});

describe('tcp check', () => {
  let listening: TestServer;
  let answering: TestServer;
  let closingWithoutNewline: TestServer;
  let silent: TestServer;

  before(async () => {
    listening = await startServer();
    answering = await startServer((socket, data) => {
      if (data.endsWith('\n')) socket.write(data.trim() === 'ruok' ? 'imok\r\nmore\n' : 'what?\n');
    });
    closingWithoutNewline = await startServer((socket, data) => {
      if (data.endsWith('\n')) socket.end('imok');
    });
    silent = await startServer();
  });

  after(async () => {
    await Promise.all([listening.close(), answering.close(), closingWithoutNewline.close(), silent.close()]);
  });

  it('passes when a connection is accepted (no query)', async () => {
    const outcome = await run({}, listening.port);
    assert.equal(outcome.passed, true, outcome.detail);
    await waitFor(() => listening.sockets.size === 0, 'the check to close its connection');
  });

  it('fails when the connection is refused, naming host and port', async () => {
    const port = await freePort();
    const outcome = await run({}, port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', new RegExp(`tcp 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('passes when the first response line matches, sending the query with a line end', async () => {
    const outcome = await run({ query: 'ruok', response: 'imok' }, answering.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.ok(answering.received.includes('ruok\n'));
  });

  it('compares without the configured line end', async () => {
    const outcome = await run({ query: 'ruok\n', response: 'imok\n' }, answering.port);
    assert.equal(outcome.passed, true, outcome.detail);
  });

  it('fails on a different response and says what it got', async () => {
    const outcome = await run({ query: 'stat', response: 'imok' }, answering.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /answered "what\?", expected "imok"/);
  });

  it('takes the whole answer as the line when the server closes without a line end', async () => {
    const outcome = await run({ query: 'ruok', response: 'imok' }, closingWithoutNewline.port);
    assert.equal(outcome.passed, true, outcome.detail);
  });

  it('fails when a server answers an endless line', async () => {
    const flood = await startServer((socket) => socket.write('x'.repeat(70 * 1024)));
    try {
      const outcome = await run({ query: 'ruok', response: 'imok' }, flood.port);
      assert.equal(outcome.passed, false);
      assert.match(outcome.detail ?? '', /without the expected line end/);
    } finally {
      await flood.close();
    }
  });

  it('is aborted by its signal when the service never answers, and closes its socket', async () => {
    const controller = new AbortController();
    const pending = run({ query: 'ruok', response: 'imok' }, silent.port, controller.signal);
    await waitFor(() => silent.received.length > 0, 'the query to reach the silent server');
    controller.abort(new Error('timed out after 100 ms'));
    const outcome = await pending;
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /timed out after 100 ms/);
    await waitFor(() => silent.sockets.size === 0, 'the aborted check to close its socket');
  });

  it('returns at once for an already aborted signal', async () => {
    const outcome = await run({}, listening.port, AbortSignal.abort(new Error('stopped')));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /stopped/);
  });
});
