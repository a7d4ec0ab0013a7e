import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { createServer, type Server, type Socket } from 'node:net';
import { ServiceRunner } from '../../src/reporter/service-runner.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import type { CheckSpec } from '../../src/config/model.js';
import { httpCheck } from '../../src/checks/http.js';
import { RunStop } from '../../src/checks/run-stop.js';
import { silentLogger } from '../../src/lib/logger.js';
import { FakeDiscovery } from '../support/fake-discovery.js';
import { waitFor } from '../support/wait-for.js';
import { serviceItem } from '../support/service-item.js';

/**
 * The built-in checks are stopped through the loop's reusable RunStop and
 * timed out by the loop's re-armed deadline timer, not an AbortController
 * and a timer per run: these prove the timeout, `fall` and shutdown still
 * behave as they did, against a real socket.
 */

/** An HTTP service that answers 200, or accepts and then never answers while `hang` is set. */
class HangingService {
  hang = false;
  readonly sockets = new Set<Socket>();
  connections = 0;
  private readonly server: Server = createServer((socket) => {
    this.connections += 1;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    if (this.hang) {
      socket.resume();
      return;
    }
    socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  });

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const runners: ServiceRunner[] = [];
const services: HangingService[] = [];

afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ deregister: false })));
  await Promise.all(services.splice(0).map((service) => service.close()));
});

async function start(check: Partial<CheckSpec>, intervalMs: number, hang = false): Promise<{ runner: ServiceRunner; fake: FakeDiscovery; service: HangingService; port: number }> {
  const service = new HangingService();
  service.hang = hang;
  services.push(service);
  const port = await service.listen();
  const spec: CheckSpec = { kind: 'http', rise: 1, fall: 1, timeoutMs: 1000, config: httpCheck.schema.parse({ uri: '/health' }), ...check };
  const fake = new FakeDiscovery();
  const runner = new ServiceRunner({
    item: serviceItem({ ports: [port], intervalMs, checks: [spec] }),
    discovery: fake,
    identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
    checkPlugins: new Map([['http', httpCheck as CheckPlugin]]),
    logger: silentLogger(),
    timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000 },
  });
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  runners.push(runner);
  runner.start();
  return { runner, fake, service, port };
}

describe('check loop: the built-in checks without an AbortController per run', () => {
  it('a service that hangs goes down after `fall` timed-out runs, each run times out again, and no socket is left behind', async () => {
    const { runner, fake, service, port } = await start({ rise: 1, fall: 3, timeoutMs: 100 }, 50);
    const key = `node1.example.com:${port}`;
    const results: { passed: boolean; detail: string; timedOut?: boolean; up: boolean }[] = [];
    runner.onCheckResult((event) => results.push(event));
    await waitFor(() => fake.keys('webapp').includes(key), 'the port to be published');
    service.hang = true;
    const from = results.length;
    await waitFor(() => !fake.keys('webapp').includes(key), 'the hung port to be unpublished');
    const after = results.slice(from);
    // Results already under way when the service began to hang may still pass.
    const failed = after.filter((result) => !result.passed);
    assert.ok(failed.length >= 3, `fall is 3: ${JSON.stringify(after)}`);
    for (const result of failed) {
      // The check's own account of its stop (it had read nothing): where, then the timeout.
      assert.equal(result.detail, `http GET http://127.0.0.1:${port}/health: timed out after 100 ms`);
      assert.equal(result.timedOut, true);
    }
    const downAt = after.findIndex((result) => !result.up);
    assert.equal(after.slice(0, downAt + 1).filter((result) => !result.passed).length, 3, 'down at the third failed run in a row, not before');
    // The loop's one stop signal and deadline timer are reused: later runs time out too.
    const more = results.length;
    await waitFor(() => results.slice(more).filter((result) => result.timedOut === true).length >= 3, 'three more timed-out runs');
    assert.ok(results.slice(more).every((result) => !result.passed));
    // A stopped run closed its socket: at most the run under way holds one.
    assert.ok(service.sockets.size <= 1, `${service.sockets.size} server sockets open`);
    service.hang = false;
    await waitFor(() => fake.keys('webapp').includes(key), 'the port to come back once the service answers again');
  });

  it('a run stopped at its timeout fails with what it had read (docs/configuration.md), not only "timed out"', async () => {
    // Answers the head and part of the body, then hangs: the run is stopped while reading the body.
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nwarming up'));
    });
    const sockets = new Set<Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const fake = new FakeDiscovery();
    const runner = new ServiceRunner({
      item: serviceItem({ ports: [port], intervalMs: 50, checks: [{ kind: 'http', rise: 1, fall: 1, timeoutMs: 100, config: httpCheck.schema.parse({ uri: '/health', expect_body: 'ready' }) }] }),
      discovery: fake,
      identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
      checkPlugins: new Map([['http', httpCheck as CheckPlugin]]),
      logger: silentLogger(),
      timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000 },
    });
    runners.push(runner);
    const results: { passed: boolean; detail: string; timedOut?: boolean }[] = [];
    runner.onCheckResult((event) => results.push(event));
    fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
    runner.start();
    await waitFor(() => results.length >= 3, 'three runs');
    await runner.stop({ deregister: false });
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const result of results) {
      assert.equal(result.passed, false);
      assert.equal(result.timedOut, true);
      assert.match(result.detail, /HTTP 200 body "warming up" \(timed out after 100 ms\), expected a body containing "ready"$/);
    }
  });

  it('shutdown in the middle of a run closes its socket and leaves no timer', async () => {
    const created: { _idleTimeout: number; _destroyed: boolean }[] = [];
    const hook = createHook({
      init(_id, type, _trigger, resource) {
        if (type === 'Timeout') created.push(resource as { _idleTimeout: number; _destroyed: boolean });
      },
    }).enable();
    const { runner, service } = await start({ rise: 1, fall: 1, timeoutMs: 500_000 }, 600_000, true);
    await waitFor(() => service.sockets.size === 1, 'the check to connect');
    assert.equal(runner.status().ports[0]?.checks[0]?.running, true);
    await runner.stop({ deregister: false });
    hook.disable();
    await waitFor(() => service.sockets.size === 0, 'the check socket to be closed');
    // The loop's interval (600 s) and deadline (500 s) are the only timers that long.
    const live = created.filter((timer) => !timer._destroyed && (timer._idleTimeout === 600_000 || timer._idleTimeout === 500_000));
    assert.equal(live.length, 0, `timers left: ${live.map((timer) => timer._idleTimeout).join(', ')}`);
    assert.equal(runner.status().ports[0]?.checks[0]?.last ?? null, null, 'a run cut by shutdown is not a result');
  });
});

describe('RunStop', () => {
  it('calls each listener once, on the first abort, with the reason set; reset makes it new', () => {
    const stop = new RunStop();
    const calls: string[] = [];
    const first = (): void => void calls.push(`first ${String((stop.reason as Error).message)}`);
    const removed = (): void => void calls.push('removed');
    stop.addEventListener('abort', first);
    stop.addEventListener('abort', removed);
    stop.removeEventListener('abort', removed);
    stop.abort(new Error('timed out'));
    stop.abort(new Error('again'));
    assert.deepEqual(calls, ['first timed out']);
    assert.equal(stop.aborted, true);
    stop.reset();
    assert.equal(stop.aborted, false);
    assert.equal(stop.reason, undefined);
    stop.addEventListener('abort', first);
    stop.reset();
    stop.abort(new Error('later'));
    assert.deepEqual(calls, ['first timed out'], 'a listener of a run before reset is not called');
  });
});
