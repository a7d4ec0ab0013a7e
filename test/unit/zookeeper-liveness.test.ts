import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { LivenessMonitor, type LivenessTarget } from '../../src/discovery/zookeeper/liveness.js';
import { ConnectionState, type ConnectionInfo } from '../../src/discovery/zookeeper/zk-client.js';
import { ZookeeperError } from '../../src/discovery/zookeeper/zk-errors.js';
import { silentLogger } from '../../src/lib/logger.js';

/** A client whose probes are answered only when the test says so. */
class FakeClient implements LivenessTarget {
  state: ConnectionState = ConnectionState.CONNECTED;
  current: ConnectionInfo = { id: 1, server: '127.0.0.1:2181', open: true };
  drops = 0;
  probes: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  connectionState(): ConnectionState {
    return this.state;
  }
  connection(): ConnectionInfo | undefined {
    return this.current;
  }
  negotiatedTimeoutMs(): number {
    return 6000; // probe every 1000 ms, unanswered after 2000 ms
  }
  exists(): Promise<null> {
    return new Promise((resolve, reject) => this.probes.push({ resolve: () => resolve(null), reject }));
  }
  dropConnection(): boolean {
    this.drops += 1;
    this.current = { id: this.current.id + 1, server: '127.0.0.1:2182', open: true };
    return true;
  }
}

function setup(t: TestContext, connectTimeoutMs = 1500) {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let now = 0;
  const client = new FakeClient();
  const monitor = new LivenessMonitor(client, { connectTimeoutMs }, silentLogger(), () => now);
  monitor.start();
  const advance = async (ms: number): Promise<void> => {
    for (let step = 0; step < ms; step += 50) {
      now += 50;
      t.mock.timers.tick(50);
      await Promise.resolve();
    }
  };
  return { client, monitor, advance, now: () => now };
}

test('answered probes keep the connection', async (t) => {
  const { client, monitor, advance } = setup(t);
  for (let i = 0; i < 10; i += 1) {
    await advance(1000);
    for (const probe of client.probes.splice(0)) probe.resolve();
  }
  assert.ok(monitor.stats.probes >= 9);
  assert.equal(client.drops, 0);
  monitor.stop();
});

test('a probe unanswered for a third of the session timeout drops the connection, once', async (t) => {
  const { client, monitor, advance } = setup(t);
  await advance(1000);
  assert.equal(client.probes.length, 1, 'one probe sent');
  await advance(1900);
  assert.equal(client.drops, 0, 'not before the probe timeout');
  await advance(600); // the check runs every 250 ms
  assert.equal(client.drops, 1);
  assert.equal(monitor.stats.drops, 1);
  monitor.stop();
});

test('the operation deadline rejecting the probe does not count as an answer', async (t) => {
  const { client, advance } = setup(t);
  await advance(1000);
  client.probes[0]!.reject(new ZookeeperError('exists', '/', undefined, 'no answer within 500 ms'));
  await advance(1500);
  assert.equal(client.drops, 0);
  await advance(1000);
  assert.equal(client.drops, 1);
});

test('a connection attempt without a session is dropped after the connect timeout; a new attempt gets its own time', async (t) => {
  const { client, advance } = setup(t, 1500);
  client.state = ConnectionState.CONNECTING;
  await advance(1400);
  assert.equal(client.drops, 0);
  await advance(600); // the attempt is first seen at a check (every 250 ms), then must be older than 1500 ms
  assert.equal(client.drops, 1);
  // The library's next attempt (a new socket) starts its own clock.
  await advance(1000);
  assert.equal(client.drops, 1);
  client.current = { id: client.current.id + 1, server: '127.0.0.1:2183', open: true };
  await advance(1000);
  assert.equal(client.drops, 1, 'a fresh socket is not dropped early');
  client.state = ConnectionState.CONNECTED;
  await advance(3000);
  for (const probe of client.probes.splice(0)) probe.resolve();
});

test('a connection the server keeps speaking on is not probed; once it falls silent, it is, and dropped if the probe goes unanswered', async (t) => {
  const { client, monitor, advance, now } = setup(t);
  // Notifications every 400 ms for 5 s (a deploy): nothing to probe.
  for (let i = 0; i < 12; i += 1) {
    await advance(400);
    client.current = { ...client.current, lastHeardAt: now() };
  }
  assert.equal(monitor.stats.probes, 0, 'no probe while the server speaks');
  // Silent from here: a probe after the probe interval, and the drop after the probe timeout.
  await advance(1300); // the check runs every 250 ms
  assert.equal(client.probes.length, 1, 'probed once the connection fell silent');
  await advance(2500);
  assert.equal(client.drops, 1);
  monitor.stop();
});
