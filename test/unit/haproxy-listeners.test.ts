import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { bindTargets, busyTargets } from '../../src/balancer/haproxy/listeners.js';
import { freePort } from '../support/ports.js';

test('bindTargets: single-port TCP addresses of every bind line, with their line', () => {
  const text = ['frontend a', '    bind 127.0.0.1:8000', '    bind :8001,[::1]:8002', 'listen b', '    bind *:8003 ssl crt /x.pem', '    bind :9000-9005', '    bind unix@/run/x.sock', '    server x 1.2.3.4:80'].join('\n');
  assert.deepEqual(
    bindTargets(text).map(({ address, host, port, line }) => [address, host, port, line]),
    [
      ['127.0.0.1:8000', '127.0.0.1', 8000, 1],
      [':8001', '0.0.0.0', 8001, 2],
      ['[::1]:8002', '::1', 8002, 2],
      ['*:8003', '0.0.0.0', 8003, 4],
    ],
  );
});

test('busyTargets: only addresses another program listens on', async () => {
  const [taken, free] = [await freePort(), await freePort()];
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(taken, '127.0.0.1', () => resolve()));
  try {
    const busy = await busyTargets(bindTargets(`bind 127.0.0.1:${taken}\nbind 127.0.0.1:${free}\n`));
    assert.deepEqual(busy.map((target) => target.port), [taken]);
  } finally {
    server.close();
  }
});
