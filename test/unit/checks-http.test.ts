import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { httpCheck, httpCheckSchema, type HttpCheckConfig } from '../../src/checks/http.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { PluginHelper } from '../../src/lib/plugin-helper.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startHostileServer, type HostileAnswer, type HostileServer } from '../support/hostile-http.js';
import { MAX_BODY_BYTES, MAX_HEAD_BYTES } from '../../src/checks/http-exchange.js';

const helper: PluginHelper = { logger: silentLogger(), name: 'webapp', file: '/etc/lighthouse/services/webapp.yaml', now: Date.now };

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

interface TestServer {
  port: number;
  seen: SeenRequest[];
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** Routes: /ok 200, /empty 204, /fail 500 with a body, /moved 301, /hang never answers, /endless a 500 whose chunked body never ends. */
function handler(seen: SeenRequest[]) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
    switch (request.url) {
      case '/ok':
      case '/ok?full=1':
        response.end('fine');
        return;
      case '/empty':
        response.writeHead(204).end();
        return;
      case '/fail':
        response.writeHead(500).end('database unreachable\n');
        return;
      case '/moved':
        response.writeHead(301, { location: '/ok' }).end();
        return;
      case '/hang':
        return;
      case '/endless': {
        // Raw bytes under the TLS layer: a chunk-size line that never ends.
        const socket = request.socket;
        socket.on('error', () => undefined);
        socket.write('HTTP/1.1 500 ERR\r\nTransfer-Encoding: chunked\r\n\r\n');
        const pump = (): void => {
          while (!socket.destroyed && socket.write('f'.repeat(4096)));
          if (!socket.destroyed) socket.once('drain', pump);
        };
        pump();
        return;
      }
      default:
        response.writeHead(404).end();
    }
  };
}

async function listen(server: Server, seen: SeenRequest[]): Promise<TestServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    seen,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function config(raw: Record<string, unknown>): HttpCheckConfig {
  return httpCheckSchema.parse(raw);
}

function run(checkConfig: HttpCheckConfig, port: number, signal: AbortSignal = new AbortController().signal) {
  return httpCheck.create(checkConfig, { host: '127.0.0.1', port }, helper).run(signal);
}

describe('http check schema', () => {
  it('needs a uri and defaults to GET without https', () => {
    assert.deepEqual(config({ uri: '/health' }), { uri: '/health', method: 'GET', https: false, headers: {}, insecure: false });
    assert.equal(httpCheckSchema.safeParse({}).success, false);
  });

  it('upper-cases the method', () => {
    assert.equal(config({ uri: '/', method: 'head' }).method, 'HEAD');
  });

  it('rejects a uri that is not a path', () => {
    assert.equal(httpCheckSchema.safeParse({ uri: 'health' }).success, false);
    assert.equal(httpCheckSchema.safeParse({ uri: '/a b' }).success, false);
  });

  it('rejects unknown settings and header injection', () => {
    assert.equal(httpCheckSchema.safeParse({ uri: '/', use_https: true }).success, false);
    assert.equal(httpCheckSchema.safeParse({ uri: '/', headers: { 'x-a': 'b\r\nx-evil: 1' } }).success, false);
    assert.equal(httpCheckSchema.safeParse({ uri: '/', headers: { 'x a': 'b' } }).success, false);
    assert.equal(httpCheckSchema.safeParse({ uri: '/', method: 'GET /x' }).success, false);
  });

  it('rejects a Host header set twice', () => {
    const result = httpCheckSchema.safeParse({ uri: '/', host_header: 'a.example', headers: { Host: 'b.example' } });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['headers']);
  });
});

describe('http check', () => {
  let server: TestServer;

  before(async () => {
    const seen: SeenRequest[] = [];
    server = await listen(createHttpServer(handler(seen)), seen);
  });

  after(async () => {
    await server.close();
  });

  it('passes on 200 and closes its connection', async () => {
    const outcome = await run(config({ uri: '/ok' }), server.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.match(outcome.detail ?? '', /HTTP 200/);
    await waitFor(() => server.sockets.size === 0, 'the check to close its connection');
  });

  it('passes on 204', async () => {
    const outcome = await run(config({ uri: '/empty' }), server.port);
    assert.equal(outcome.passed, true, outcome.detail);
  });

  it('fails on 500 and shows status and the start of the body', async () => {
    const outcome = await run(config({ uri: '/fail' }), server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', new RegExp(`http GET http://127\\.0\\.0\\.1:${server.port}/fail: HTTP 500 "database unreachable"`));
  });

  it('fails on a redirect (not 2xx)', async () => {
    const outcome = await run(config({ uri: '/moved' }), server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 301/);
  });

  it('sends the configured method, path, headers and Host', async () => {
    const outcome = await run(config({ uri: '/ok?full=1', method: 'HEAD', host_header: 'webapp.internal', headers: { 'X-Health': 'lighthouse' } }), server.port);
    assert.equal(outcome.passed, true, outcome.detail);
    const request = server.seen.at(-1);
    assert.equal(request?.method, 'HEAD');
    assert.equal(request?.url, '/ok?full=1');
    assert.equal(request?.headers.host, 'webapp.internal');
    assert.equal(request?.headers['x-health'], 'lighthouse');
  });

  it('fails when nothing listens', async () => {
    const outcome = await run(config({ uri: '/ok' }), await freePort());
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /ECONNREFUSED/);
  });

  it('is aborted by its signal when the service hangs, and closes its connection', async () => {
    const controller = new AbortController();
    const before = server.seen.length;
    const pending = run(config({ uri: '/hang' }), server.port, controller.signal);
    await waitFor(() => server.seen.length > before, 'the request to reach the server');
    assert.ok(server.sockets.size > 0);
    controller.abort(new Error('timed out after 100 ms'));
    const outcome = await pending;
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /\/hang: timed out after 100 ms/);
    await waitFor(() => server.sockets.size === 0, 'the aborted check to close its connection');
  });

  it('is aborted by AbortSignal.timeout', async () => {
    const outcome = await run(config({ uri: '/hang' }), server.port, AbortSignal.timeout(50));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /timeout/i);
  });
});

/** A self-signed certificate for 127.0.0.1 made with openssl, or the reason there is none. */
function makeCertificate(dir: string): { ok: true; key: string; cert: string } | { ok: false; reason: string } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const result = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=webapp.internal'], {
    encoding: 'utf8',
  });
  if (result.error) return { ok: false, reason: `openssl is not available (${result.error.message})` };
  if (result.status !== 0) return { ok: false, reason: `openssl failed: ${result.stderr.trim()}` };
  return { ok: true, key, cert };
}

describe('http check over https', () => {
  let dir: TempDir;
  let server: TestServer | undefined;
  let skipReason: string | undefined;
  const serverNames: (string | false | null)[] = [];

  before(async () => {
    dir = await tempDir('lighthouse-https-');
    const made = makeCertificate(dir.path);
    if (!made.ok) {
      skipReason = `skipped: cannot make a self-signed certificate: ${made.reason}`;
      return;
    }
    const seen: SeenRequest[] = [];
    const tls = { key: await readFile(made.key), cert: await readFile(made.cert) };
    const https = createHttpsServer(tls, handler(seen));
    https.on('secureConnection', (socket: TLSSocket) => serverNames.push(socket.servername));
    server = await listen(https, seen);
  });

  after(async () => {
    await server?.close();
    await dir.remove();
  });

  it('passes against a self-signed certificate with insecure: true', async (t) => {
    if (!server) return t.skip(skipReason);
    const outcome = await run(config({ uri: '/ok', https: true, insecure: true }), server.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.match(outcome.detail ?? '', /https:\/\/127\.0\.0\.1:\d+\/ok: HTTP 200/);
  });

  it('sends the Host header as the TLS server name', async (t) => {
    if (!server) return t.skip(skipReason);
    const outcome = await run(config({ uri: '/ok', https: true, insecure: true, host_header: 'webapp.internal:8443' }), server.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.equal(server.seen.at(-1)?.headers.host, 'webapp.internal:8443');
    assert.equal(serverNames.at(-1), 'webapp.internal');
  });

  it('fails on 500 over https', async (t) => {
    if (!server) return t.skip(skipReason);
    const outcome = await run(config({ uri: '/fail', https: true, insecure: true }), server.port);
    assert.equal(outcome.passed, false);
  });

  it('stops reading a body that never ends over https too', async (t) => {
    if (!server) return t.skip(skipReason);
    const outcome = await run(config({ uri: '/endless', https: true, insecure: true }), server.port, AbortSignal.timeout(15_000));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 500 \(stopped reading: body longer than \d+ bytes\), expected 2xx$/);
  });

  it('fails when plain http is sent to an https port', async (t) => {
    if (!server) return t.skip(skipReason);
    const outcome = await run(config({ uri: '/ok' }), server.port);
    assert.equal(outcome.passed, false);
  });
});

/**
 * Servers that write raw bytes, for the answers node:http never produces on
 * its own: interim answers, chunked failures, kept-open connections, non-HTTP.
 */
describe('http check against raw answers', () => {
  const servers: RawServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  async function rawServer(answer: (request: string) => string | undefined): Promise<RawServer> {
    const server = await startRawServer(answer);
    servers.push(server);
    return server;
  }

  it('skips an interim 100/103 answer and judges the final one', async () => {
    const server = await rawServer(() => 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const outcome = await run(config({ uri: '/ok' }), server.port);
    assert.equal(outcome.passed, true, outcome.detail);
    assert.match(outcome.detail ?? '', /HTTP 200$/);
  });

  it('shows the de-chunked body of a chunked failure', async () => {
    const server = await rawServer(() => 'HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n9\r\ndatabase \r\n7\r\nis down\r\n0\r\n\r\n');
    const outcome = await run(config({ uri: '/x' }), server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 503 "database is down", expected 2xx$/);
  });

  it('ends a failure at its Content-Length even when the server keeps the connection open', async () => {
    const server = await rawServer(() => 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nnope');
    server.keepOpen = true;
    const outcome = await run(config({ uri: '/x' }), server.port, AbortSignal.timeout(5_000));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 500 "nope", expected 2xx$/);
  });

  it('does not wait for the body of a HEAD answer', async () => {
    const server = await rawServer(() => 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 400\r\n\r\n');
    server.keepOpen = true;
    const outcome = await run(config({ uri: '/x', method: 'HEAD' }), server.port, AbortSignal.timeout(5_000));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 500, expected 2xx$/);
  });

  it('reads a status line split over reads, with other checks reading in between', async () => {
    // Plain checks share one read buffer: a partial answer must be copied out of it before the next read.
    const servers = await Promise.all(
      [200, 503].map((status) =>
        startSplitServer([`HTTP/1.`, `1 ${status} X\r\nContent-Length: 4\r\n`, `\r\n${status === 200 ? 'fine' : 'sick'}`]),
      ),
    );
    try {
      const [ok, sick] = await Promise.all(servers.map((server) => run(config({ uri: '/x' }), server.port, AbortSignal.timeout(5_000))));
      assert.equal(ok?.passed, true, ok?.detail);
      assert.match(ok?.detail ?? '', /HTTP 200$/);
      assert.equal(sick?.passed, false);
      assert.match(sick?.detail ?? '', /HTTP 503 "sick", expected 2xx$/);
    } finally {
      for (const server of servers) await server.close();
    }
  });

  it('fails on an answer that is not HTTP, quoting it', async () => {
    const server = await rawServer(() => '-ERR unknown command\r\n');
    const outcome = await run(config({ uri: '/x' }), server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /not an HTTP answer: "-ERR unknown command"$/);
  });

  it('fails when the server closes without answering', async () => {
    const server = await rawServer(() => undefined);
    const outcome = await run(config({ uri: '/x' }), server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /closed before an HTTP answer/);
  });

  it('asks for Connection: close, sends Content-Length: 0 on POST and lets headers override the defaults', async () => {
    const server = await rawServer(() => 'HTTP/1.1 204 No Content\r\n\r\n');
    const outcome = await run(config({ uri: '/hook', method: 'post', headers: { 'User-Agent': 'probe/1', Connection: 'keep-alive' } }), server.port);
    assert.equal(outcome.passed, true, outcome.detail);
    const request = server.requests.at(-1) ?? '';
    assert.match(request, /^POST \/hook HTTP\/1\.1\r\n/);
    assert.match(request, new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${server.port}\r\n`));
    assert.match(request, /\r\nUser-Agent: probe\/1\r\n/);
    assert.match(request, /\r\nContent-Length: 0\r\n/);
    assert.match(request, /\r\nConnection: close\r\n\r\n$/);
    assert.doesNotMatch(request, /lighthouse-reporter|keep-alive/);
  });
});

/**
 * Answers that never end (#19): each must fail on its own, well before the
 * check's timeout, having read a bounded number of bytes. A long timeout
 * makes the old behaviour (read until the timeout) show as "timed out".
 */
describe('http check against answers that never end', () => {
  let server: HostileServer;
  before(async () => {
    server = await startHostileServer();
  });
  after(async () => {
    await server.close();
  });

  const CHUNKED_500 = 'HTTP/1.1 500 ERR\r\nTransfer-Encoding: chunked\r\n\r\n';
  const KIB = 'a'.repeat(1024);

  async function hostile(answer: HostileAnswer, uri = '/x') {
    server.answer = answer;
    const before = server.connections.length;
    const outcome = await run(config({ uri }), server.port, AbortSignal.timeout(15_000));
    await waitFor(() => server.connections[before]?.closedByClient === true, 'the check to close its connection');
    return { outcome, connection: server.connections[before]! };
  }

  it('stops reading a chunk-size line that never ends and fails with the status', async () => {
    const { outcome, connection } = await hostile({ head: CHUNKED_500, next: () => KIB });
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', new RegExp(`HTTP 500 \\(stopped reading: body longer than ${MAX_BODY_BYTES} bytes\\), expected 2xx$`));
    // What the server got into the kernel before the close: the limit plus socket buffers, not the whole stream.
    assert.ok(connection.sent < 16 * 1024 * 1024, `server sent ${connection.sent} bytes before the client closed`);
  });

  it('fails at once on a garbage chunk size, with the status and a note', async () => {
    const { outcome } = await hostile({ head: `${CHUNKED_500}zz\r\n`, next: () => 'more\r\n', pauseMs: 50 });
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 500 \(malformed chunked body: chunk size "zz"\), expected 2xx$/);
  });

  it('keeps the chunks read before a garbage one', async () => {
    const { outcome } = await hostile({ head: `${CHUNKED_500}4\r\nsick\r\n-1\r\n`, next: () => 'x', pauseMs: 50 });
    assert.match(outcome.detail ?? '', /HTTP 500 "sick" \(malformed chunked body: chunk size "-1"\), expected 2xx$/);
  });

  it('reads chunk sizes with leading zeros, whitespace and extensions', async () => {
    const { outcome } = await hostile({ head: `${CHUNKED_500}000000004 \r\nsick\r\n3;why=db\r\n!!!\r\n0\r\n\r\n`, next: () => '', pauseMs: 1_000 });
    assert.match(outcome.detail ?? '', /HTTP 500 "sick!!!", expected 2xx$/);
  });

  it('stops at the limit on a 65 KB chunk extension', async () => {
    const { outcome } = await hostile({ head: `${CHUNKED_500}5;ext=`, next: () => KIB });
    assert.match(outcome.detail ?? '', /HTTP 500 \(stopped reading: body longer than/);
  });

  it('takes a snippet of a huge Content-Length body and stops', async () => {
    const { outcome } = await hostile({ head: 'HTTP/1.1 503 X\r\nContent-Length: 99999999999\r\n\r\n', next: () => KIB });
    assert.match(outcome.detail ?? '', /HTTP 503 "a{100,}/);
  });

  it('reads a body trickling one byte per read only up to the limit', async () => {
    // chunks of one byte of data each: framing grows, the snippet barely does
    const { outcome } = await hostile({ head: CHUNKED_500, next: () => '1;e\r\n', pauseMs: 0 });
    assert.match(outcome.detail ?? '', /HTTP 500 .*\(malformed chunked body|stopped reading/);
  });

  it('fails on bytes without a status line after the head limit', async () => {
    const { outcome, connection } = await hostile({ head: '', next: () => KIB });
    assert.match(outcome.detail ?? '', new RegExp(`no HTTP status line in the first ${MAX_HEAD_BYTES} bytes$`));
    assert.ok(connection.sent < 16 * 1024 * 1024, `server sent ${connection.sent} bytes`);
  });

  it('fails on headers that never end after the head limit, with the status', async () => {
    const { outcome } = await hostile({ head: 'HTTP/1.1 500 ERR\r\n', next: () => `X-Pad: ${KIB}\r\n` });
    assert.match(outcome.detail ?? '', new RegExp(`HTTP 500 \\(stopped reading: headers longer than ${MAX_HEAD_BYTES} bytes\\), expected 2xx$`));
  });

  it('fails on an endless stream of interim answers', async () => {
    const { outcome } = await hostile({ head: '', next: () => 'HTTP/1.1 100 Continue\r\n\r\n' });
    assert.match(outcome.detail ?? '', /more than \d+ interim \(1xx\) answers$/);
  });

  it('keeps the status of a slowloris answer when it times out', async () => {
    server.answer = { head: 'HTTP/1.1 500 ERR\r\n', next: () => 'X', pauseMs: 20 };
    const outcome = await run(config({ uri: '/x' }), server.port, AbortSignal.timeout(500));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 500 \(.*timeout.*\), expected 2xx$/);
  });
});

interface RawServer {
  port: number;
  requests: string[];
  /** leave the connection open after answering, as a keep-alive server would */
  keepOpen: boolean;
  close(): Promise<void>;
}

async function startRawServer(answer: (request: string) => string | undefined): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const state: RawServer = { port: 0, requests: [], keepOpen: false, close: async () => undefined };
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (!received.includes('\r\n\r\n')) return;
      state.requests.push(received);
      const reply = answer(received);
      if (reply === undefined) socket.end();
      else if (state.keepOpen) socket.write(reply);
      else socket.end(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return state;
}

/** Answers any request with `parts`, written 20 ms apart, then closes. */
async function startSplitServer(parts: readonly string[]): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => {
      parts.forEach((part, index) => setTimeout(() => (index === parts.length - 1 ? socket.end(part) : socket.write(part)), 20 * (index + 1)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
