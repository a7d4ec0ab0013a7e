import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, Socket as NetSocket, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Server as HttpServer } from 'node:http';
import { httpCheck, httpCheckSchema } from '../../src/checks/http.js';
import { tcpCheck, tcpCheckSchema } from '../../src/checks/tcp.js';
import { grpcCheck, grpcCheckSchema } from '../../src/checks/grpc.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { PluginHelper } from '../../src/lib/plugin-helper.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { startGrpcHealthServer, ServingStatus, type GrpcHealthServer } from '../support/grpc-health-server.js';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const helper: PluginHelper = { logger: silentLogger(), name: 'webapp', file: '/etc/lighthouse/services/webapp.yaml', now: Date.now };
const TARGET = '127.0.0.1';

function http(raw: Record<string, unknown>, port: number, signal = AbortSignal.timeout(10_000)) {
  return httpCheck.create(httpCheckSchema.parse(raw), { host: TARGET, port }, helper).run(signal);
}
function tcp(raw: Record<string, unknown>, port: number, signal = AbortSignal.timeout(10_000)) {
  return tcpCheck.create(tcpCheckSchema.parse(raw), { host: TARGET, port }, helper).run(signal);
}
function grpc(raw: Record<string, unknown>, port: number, signal = AbortSignal.timeout(10_000)) {
  return grpcCheck.create(grpcCheckSchema.parse(raw), { host: TARGET, port }, helper).run(signal);
}

async function listen<T extends HttpServer | HttpsServer | NetServer>(server: T): Promise<{ server: T; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, TARGET, resolve));
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** /health answers `state.body` with `state.status`; every request is kept. */
function healthApp(state: { status: number; body: string; seen: IncomingMessage[] }) {
  return (request: IncomingMessage, response: ServerResponse) => {
    state.seen.push(request);
    response.writeHead(state.status, { 'content-type': 'text/plain' }).end(state.body);
  };
}

describe('https check against a server with a self-signed certificate', () => {
  let dir: TempDir;
  let skip: string | undefined;
  let server: Awaited<ReturnType<typeof listen<HttpsServer>>> | undefined;
  let certFile = '';
  let otherCaFile = '';
  const serverNames: (string | false | null)[] = [];
  const state = { status: 200, body: 'ok', seen: [] as IncomingMessage[] };

  before(async () => {
    dir = await tempDir('lighthouse-https-verify-');
    const own = selfSignedCertificate(dir.path, 'webapp', ['webapp.internal', TARGET]);
    const other = selfSignedCertificate(dir.path, 'other', ['webapp.internal', TARGET]);
    if (!own.ok || !other.ok) {
      skip = `cannot make certificates: ${!own.ok ? own.reason : !other.ok ? other.reason : ''}`;
      return;
    }
    certFile = own.paths.cert;
    otherCaFile = other.paths.cert;
    const https = createHttpsServer({ key: await readFile(own.paths.key), cert: await readFile(own.paths.cert) }, healthApp(state));
    https.on('secureConnection', (socket: TLSSocket) => serverNames.push(socket.servername));
    server = await listen(https);
  });

  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  it('fails verification by default, saying what it expected', async (t) => {
    if (!server) return t.skip(skip);
    const outcome = await http({ uri: '/health', https: true }, server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /certificate rejected: self-signed certificate .*expected a certificate for 127\.0\.0\.1 signed by the system CAs; set ca_file, or insecure: true/);
  });

  it('passes with the insecure opt-out', async (t) => {
    if (!server) return t.skip(skip);
    const outcome = await http({ uri: '/health', https: true, insecure: true }, server.port);
    assert.equal(outcome.passed, true, outcome.detail);
  });

  it('passes with the right CA file and fails with another one', async (t) => {
    if (!server) return t.skip(skip);
    const right = await http({ uri: '/health', https: true, ca_file: certFile }, server.port);
    assert.equal(right.passed, true, right.detail);
    const wrong = await http({ uri: '/health', https: true, ca_file: otherCaFile }, server.port);
    assert.equal(wrong.passed, false);
    assert.match(wrong.detail ?? '', new RegExp(`certificate rejected: .*signed by ca_file ${otherCaFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  });

  it('verifies the Host header name and sends it as SNI', async (t) => {
    if (!server) return t.skip(skip);
    const named = await http({ uri: '/health', https: true, ca_file: certFile, host_header: 'webapp.internal:8443' }, server.port);
    assert.equal(named.passed, true, named.detail);
    assert.equal(serverNames.at(-1), 'webapp.internal');
    assert.equal(state.seen.at(-1)?.headers.host, 'webapp.internal:8443');
    const wrongName = await http({ uri: '/health', https: true, ca_file: certFile, host_header: 'billing.internal' }, server.port);
    assert.equal(wrongName.passed, false);
    assert.match(wrongName.detail ?? '', /certificate rejected: .*billing\.internal.*expected a certificate for billing\.internal/);
  });

  it('checks the status and body over a verified connection', async (t) => {
    if (!server) return t.skip(skip);
    state.body = '{"status":"degraded"}';
    const outcome = await http({ uri: '/health', https: true, ca_file: certFile, expect_body: '"status":"ok"' }, server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /HTTP 200 body "\{\\"status\\":\\"degraded\\"\}", expected a body containing "\\"status\\":\\"ok\\""$/);
    state.body = '{"status":"ok"}';
    const passing = await http({ uri: '/health', https: true, ca_file: certFile, expect_body: '"status":"ok"' }, server.port);
    assert.equal(passing.passed, true, passing.detail);
  });
});

describe('http check expectations against a real server', () => {
  let app: Awaited<ReturnType<typeof listen<HttpServer>>>;
  const state = { status: 200, body: 'ok', seen: [] as IncomingMessage[] };

  before(async () => {
    app = await listen(createHttpServer(healthApp(state)));
  });
  after(async () => {
    await app.close();
  });

  it('passes on an expected status outside 2xx and fails on an unexpected 2xx, naming both', async () => {
    state.status = 301;
    state.body = '';
    const moved = await http({ uri: '/health', expect_status: [200, '300-399'] }, app.port);
    assert.equal(moved.passed, true, moved.detail);
    state.status = 204;
    const noContent = await http({ uri: '/health', expect_status: 200 }, app.port);
    assert.equal(noContent.passed, false);
    assert.match(noContent.detail ?? '', /HTTP 204, expected 200$/);
    state.status = 503;
    state.body = 'draining';
    const unavailable = await http({ uri: '/health', expect_status: ['2xx', '429'] }, app.port);
    assert.match(unavailable.detail ?? '', /HTTP 503 "draining", expected 2xx or 429$/);
  });

  it('reads the body only when a body expectation is set, and fails on an error page answered with 200', async () => {
    state.status = 200;
    state.body = '<html><h1>Internal error</h1></html>';
    const statusOnly = await http({ uri: '/health' }, app.port);
    assert.equal(statusOnly.passed, true, 'without expect_body a 200 passes');
    const byText = await http({ uri: '/health', expect_body: 'OK' }, app.port);
    assert.equal(byText.passed, false);
    assert.match(byText.detail ?? '', /HTTP 200 body "<html><h1>Internal error<\/h1><\/html>", expected a body containing "OK"$/);
    const byRegex = await http({ uri: '/health', expect_body_regex: '^\\s*(ok|healthy)\\s*$' }, app.port);
    assert.match(byRegex.detail ?? '', /expected a body matching \/\^\\s\*\(ok\|healthy\)\\s\*\$\/$/);
    state.body = 'healthy\n';
    const healthy = await http({ uri: '/health', expect_body_regex: '^\\s*(ok|healthy)\\s*$', expect_body: 'heal' }, app.port);
    assert.equal(healthy.passed, true, healthy.detail);
  });

  it('finds the text in a large chunked body, and says when it only read part of it', async () => {
    state.status = 200;
    state.body = `${'x'.repeat(50_000)}MARK`;
    const found = await http({ uri: '/health', expect_body: 'MARK' }, app.port);
    assert.equal(found.passed, true, found.detail);
    state.body = `${'x'.repeat(200_000)}MARK`;
    const beyond = await http({ uri: '/health', expect_body: 'MARK' }, app.port);
    assert.equal(beyond.passed, false);
    assert.match(beyond.detail ?? '', /\(read only the first 65536 bytes of the body\), expected a body containing "MARK"$/);
  });

  it('sends the method, Host header and extra headers', async () => {
    state.status = 200;
    state.body = 'ok';
    const outcome = await http({ uri: '/health?deep=1', method: 'post', host_header: 'webapp.internal', headers: { 'X-Probe': 'lighthouse', Authorization: 'Bearer t' }, expect_body: 'ok' }, app.port);
    assert.equal(outcome.passed, true, outcome.detail);
    const seen = state.seen.at(-1)!;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/health?deep=1');
    assert.equal(seen.headers.host, 'webapp.internal');
    assert.equal(seen.headers['x-probe'], 'lighthouse');
    assert.equal(seen.headers.authorization, 'Bearer t');
  });

  it('keeps its timeout while reading a body that trickles, failing with the status', async () => {
    const slow = await listen(
      createHttpServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('still warming up');
        // never ends
      }),
    );
    try {
      const outcome = await http({ uri: '/health', expect_body: 'ready' }, slow.port, AbortSignal.timeout(300));
      assert.equal(outcome.passed, false);
      assert.match(outcome.detail ?? '', /HTTP 200 body "still warming up" \(.*timeout.*\), expected a body containing "ready"$/);
    } finally {
      await slow.close();
    }
  });
});

describe('tcp send/expect against a real line server', () => {
  let lines: Awaited<ReturnType<typeof listen<NetServer>>>;
  const state = { banner: '', answers: new Map<string, string>(), closeAfter: true };

  before(async () => {
    lines = await listen(
      createNetServer((socket) => {
        socket.on('error', () => undefined);
        if (state.banner) socket.write(state.banner);
        let buffer = '';
        socket.on('data', (chunk: Buffer) => {
          buffer += chunk.toString('utf8');
          for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
            const line = buffer.slice(0, end).replace(/\r$/, '');
            buffer = buffer.slice(end + 1);
            const answer = state.answers.get(line) ?? `ERR unknown ${line}\n`;
            if (state.closeAfter) socket.end(answer);
            else socket.write(answer);
          }
        });
      }),
    );
  });
  after(async () => {
    await lines.close();
  });

  it('sends the query and passes on a substring or regex of a multi-line answer', async () => {
    state.answers.set('STATS', 'uptime 12\nrole master\nconnected 3\n');
    assert.equal((await tcp({ query: 'STATS', expect: 'role master' }, lines.port)).passed, true);
    const byRegex = await tcp({ query: 'STATS', expect_regex: 'connected [1-9]' }, lines.port);
    assert.equal(byRegex.passed, true, byRegex.detail);
    // ^ and $ match at line ends: a whole line in the middle of the answer
    const wholeLine = await tcp({ query: 'STATS', expect_regex: '^role master$' }, lines.port);
    assert.equal(wholeLine.passed, true, wholeLine.detail);
  });

  it('fails with what came back and what was expected', async () => {
    state.answers.set('STATS', 'uptime 12\nrole replica\n');
    const outcome = await tcp({ query: 'STATS', expect: 'role master' }, lines.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /connection closed with "uptime 12\\nrole replica\\n", expected the answer to "STATS" containing "role master"$/);
  });

  it('passes on a banner without sending anything', async () => {
    state.banner = 'READY lighthouse-test\n';
    try {
      assert.equal((await tcp({ expect_regex: '^READY ' }, lines.port)).passed, true);
    } finally {
      state.banner = '';
    }
  });

  it('keeps its timeout when the server never says the expected text, showing what it did say', async () => {
    state.closeAfter = false;
    state.answers.set('STATUS', 'LOADING\n');
    try {
      const outcome = await tcp({ query: 'STATUS', expect: 'READY' }, lines.port, AbortSignal.timeout(300));
      assert.equal(outcome.passed, false);
      assert.match(outcome.detail ?? '', /timeout.* with "LOADING\\n", expected the answer to "STATUS" containing "READY"$/i);
    } finally {
      state.closeAfter = true;
    }
  });

  it('fails when nothing listens', async () => {
    const outcome = await tcp({ query: 'STATUS', expect: 'READY' }, await freePort());
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /ECONNREFUSED/);
  });
});

describe('grpc check against a real grpc-js server with the health service', () => {
  let server: GrpcHealthServer;
  before(async () => {
    server = await startGrpcHealthServer();
  });
  after(async () => {
    await server.stop();
  });

  it('passes on SERVING for the server and for a named service', async () => {
    server.statuses.set('billing.Ledger', ServingStatus.SERVING);
    const whole = await grpc({}, server.port);
    assert.equal(whole.passed, true, whole.detail);
    const named = await grpc({ service: 'billing.Ledger' }, server.port);
    assert.equal(named.passed, true, named.detail);
    assert.deepEqual(server.asked.slice(-2), ['', 'billing.Ledger']);
  });

  it('fails on any other status, naming it', async () => {
    server.statuses.set('billing.Ledger', ServingStatus.NOT_SERVING);
    const notServing = await grpc({ service: 'billing.Ledger' }, server.port);
    assert.equal(notServing.passed, false);
    assert.match(notServing.detail ?? '', new RegExp(`grpc 127\\.0\\.0\\.1:${server.port} service "billing\\.Ledger": NOT_SERVING, expected SERVING$`));
    server.statuses.set('billing.Ledger', ServingStatus.UNKNOWN);
    assert.match((await grpc({ service: 'billing.Ledger' }, server.port)).detail ?? '', /: UNKNOWN, expected SERVING$/);
  });

  it('fails on a service the server does not know, with the gRPC status', async () => {
    const outcome = await grpc({ service: 'no.Such' }, server.port);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /NOT_FOUND: unknown service, expected SERVING$/);
  });

  it('fails on a server without the health service', async () => {
    const bare = await startGrpcHealthServer({ withHealth: false });
    try {
      const outcome = await grpc({}, bare.port);
      assert.equal(outcome.passed, false);
      assert.match(outcome.detail ?? '', /UNIMPLEMENTED/);
    } finally {
      await bare.stop();
    }
  });

  it('keeps its timeout on a server that never answers', async () => {
    server.hang = true;
    try {
      const outcome = await grpc({}, server.port, AbortSignal.timeout(300));
      assert.equal(outcome.passed, false);
      assert.match(outcome.detail ?? '', /timeout.*expected SERVING$/i);
    } finally {
      server.hang = false;
    }
  });

  it('fails when nothing listens, and on a plain HTTP server', async () => {
    const refused = await grpc({}, await freePort());
    assert.equal(refused.passed, false);
    assert.match(refused.detail ?? '', /UNAVAILABLE/);
    const plain = await listen(createHttpServer((_request, response) => response.end('hello')));
    try {
      const outcome = await grpc({}, plain.port);
      assert.equal(outcome.passed, false);
    } finally {
      await plain.close();
    }
  });

  it('uses a new connection per run and leaves none open', async () => {
    const connections: Socket[] = [];
    const proxy = await listen(
      createNetServer((client) => {
        connections.push(client);
        const upstream = new NetSocket();
        upstream.connect(server.port, TARGET);
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
      }),
    );
    try {
      for (let run = 0; run < 3; run += 1) assert.equal((await grpc({}, proxy.port)).passed, true);
      assert.equal(connections.length, 3);
      await waitFor(() => connections.every((socket) => socket.destroyed || socket.readyState === 'closed'), 'every run to close its connection');
    } finally {
      await proxy.close();
    }
  });
});
