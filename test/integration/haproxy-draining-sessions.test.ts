import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, type Harness } from './haproxy-harness.js';
import type { ClusterNode } from '../../src/discovery/node.js';

/**
 * The sessions a writer reports under `draining` in its acknowledgement
 * record (what `drain --wait` waits on) come from the real `show stat` of a
 * real HAProxy: a removed server that still serves a request is listed with
 * its session until the request ends, and only it.
 */
let h: Harness;
let port: number;
const servers: Server[] = [];
const held: Socket[] = [];

/** A backend that accepts and never answers: a request to it is a session that stays open. */
async function silentBackend(): Promise<number> {
  const server = createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

const node = (host: string, backendPort: number): ClusterNode => ({ host, ip: '127.0.0.1', port: backendPort, metadata: {}, peer: { name: host, ip: '127.0.0.1', port: 1024 } });

before(async () => {
  [port] = (await freePorts(1)) as [number];
  h = await harness();
});

after(async () => {
  for (const socket of held) socket.destroy();
  await h.stop();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

test('a removed server with an open session is reported as draining with it, and no other server is', async () => {
  const slow = node('slow.test', await silentBackend());
  const other = node('other.test', await silentBackend());
  const balancer = h.create({ drainTimeoutMs: 60_000, deleteRetryMs: 50 });
  // Only `slow` at first, so the request lands on it.
  await balancer.sync([clusterOf('web', { port }, [slow])]);
  await balancer.sync([clusterOf('web', { port }, [slow, other])]);
  assert.deepEqual(await balancer.drainingSessions(), [], 'nothing is out of routing yet');
  await balancer.sync([clusterOf('web', { port }, [slow])]);
  const client = connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => held.length >= 1, 'the request to reach the silent backend', 10_000);

  // Removed while its request is open: in maintenance, with one session.
  await balancer.sync([clusterOf('web', { port }, [other])]);
  await waitFor(async () => (await balancer.drainingSessions()).length > 0, 'the draining session to show', 10_000);
  assert.deepEqual(await balancer.drainingSessions(), [{ cluster: 'web', server: `slow.test:${slow.port}`, sessions: 1 }]);

  // The request ends: nothing drains any more.
  client.destroy();
  for (const socket of held) socket.destroy();
  await waitFor(async () => (await balancer.drainingSessions()).length === 0, 'the session to end', 15_000);
});
