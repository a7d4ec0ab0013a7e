import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, isIPv4, type Socket } from 'node:net';
import { z } from 'zod';
import { ServiceRunner, canUpdateInPlace, type RunnerTiming, type TransitionEvent } from '../../src/reporter/service-runner.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import type { CheckOutcome } from '../../src/checks/types.js';
import type { Advertise, CheckSpec, ServiceItem } from '../../src/config/model.js';
import { tcpCheck } from '../../src/checks/tcp.js';
import { advertisedAddress, nodeFor, resolveLocalIdentity } from '../../src/reporter/local-identity.js';
import { silentLogger } from '../../src/lib/logger.js';
import { FakeDiscovery } from '../support/fake-discovery.js';
import { waitFor } from '../support/wait-for.js';
import { scriptedCheck, serviceItem } from '../support/service-item.js';

type Behaviour = 'pass' | 'fail' | 'hang' | 'flap';

/**
 * A check whose result the test sets per port. `hang` waits for the abort
 * signal, as a check against a hung service does.
 */
class ScriptedChecks {
  readonly behaviour = new Map<number, Behaviour>();
  runs = 0;
  aborted = 0;
  created = 0;
  closed = 0;
  private flip = false;

  readonly plugin: CheckPlugin = {
    kind: 'scripted',
    schema: z.unknown(),
    create: (_config, target) => {
      this.created += 1;
      return {
        run: (signal: AbortSignal) => this.run(target.port, signal),
        close: () => {
          this.closed += 1;
        },
      };
    },
  };

  set(port: number, behaviour: Behaviour): void {
    this.behaviour.set(port, behaviour);
  }

  private run(port: number, signal: AbortSignal): Promise<CheckOutcome> {
    this.runs += 1;
    const behaviour = this.behaviour.get(port) ?? 'fail';
    if (behaviour === 'hang') {
      return new Promise((resolve) =>
        signal.addEventListener(
          'abort',
          () => {
            this.aborted += 1;
            resolve({ passed: false, detail: 'aborted' });
          },
          { once: true },
        ),
      );
    }
    const passed = behaviour === 'flap' ? (this.flip = !this.flip) : behaviour === 'pass';
    return Promise.resolve({ passed, detail: `port ${port} ${passed ? 'passes' : 'fails'}` });
  }
}

const identity = { fqdn: 'node1.example.com', ip: '10.0.0.5' };

const runners: ServiceRunner[] = [];

interface Setup {
  runner: ServiceRunner;
  fake: FakeDiscovery;
  scripted: ScriptedChecks;
}

function setup(item: Partial<ServiceItem> = {}, timing: Partial<RunnerTiming> = {}, extra: { plugins?: CheckPlugin[]; discoveryAdvertise?: Advertise } = {}): Setup {
  const fake = new FakeDiscovery();
  const scripted = new ScriptedChecks();
  const plugins = new Map<string, CheckPlugin>([[scripted.plugin.kind, scripted.plugin]]);
  for (const plugin of extra.plugins ?? []) plugins.set(plugin.kind, plugin);
  const runner = new ServiceRunner({
    item: serviceItem(item),
    discovery: fake,
    identity,
    discoveryAdvertise: extra.discoveryAdvertise,
    checkPlugins: plugins,
    logger: silentLogger(),
    timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000, ...timing },
  });
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  runners.push(runner);
  return { runner, fake, scripted };
}

const portStatus = (runner: ServiceRunner, port: number) => runner.status().ports.find((entry) => entry.port === port);

afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ deregister: false })));
});

describe('service runner: rise and fall', () => {
  it('publishes a port after rise passes, with the node in the wire format', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 3 })] });
    scripted.set(8001, 'pass');
    const atTransition: { passes: number; publishes: number }[] = [];
    runner.onTransition((event) => {
      atTransition.push({ passes: portStatus(runner, event.port)?.checks[0]?.passes ?? -1, publishes: fake.count('publish') });
    });
    runner.start();
    assert.equal(portStatus(runner, 8001)?.up, false, 'a new port starts down');
    await waitFor(() => fake.registered('webapp', 'node1.example.com:8001'), 'the port to be published');
    assert.deepEqual(atTransition, [{ passes: 3, publishes: 0 }], 'up exactly at the third pass, not published before');
    assert.deepEqual(fake.registered('webapp', 'node1.example.com:8001'), {
      host: 'node1.example.com',
      ip: '10.0.0.5',
      port: 8001,
      metadata: { version: 1 },
      peer: { name: 'node1.example.com', ip: '10.0.0.5', port: 1024 },
    });
    await waitFor(() => portStatus(runner, 8001)?.registered, 'status to show the registration');
  });

  it('applies advertise overrides: the service file over the discovery file over the machine', async () => {
    const { runner, fake, scripted } = setup({ advertise: { host: 'web1.example.com' }, checks: [scriptedCheck({ rise: 1 })] }, {}, { discoveryAdvertise: { ip: '10.9.9.9', peer_port: 2000, host: 'ignored.example.com' } });
    scripted.set(8001, 'pass');
    runner.start();
    const node = await waitFor(() => fake.registered('webapp', 'web1.example.com:8001'), 'the advertised node');
    assert.deepEqual(node.peer, { name: 'web1.example.com', ip: '10.9.9.9', port: 2000 });
    assert.equal(node.ip, '10.9.9.9');
  });

  it('unpublishes a port after fall failures', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1, fall: 3 })] });
    scripted.set(8001, 'pass');
    const downs: number[] = [];
    runner.onTransition((event) => {
      if (!event.up) downs.push(portStatus(runner, event.port)?.checks[0]?.fails ?? -1);
    });
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    scripted.set(8001, 'fail');
    await waitFor(() => fake.keys('webapp').length === 0, 'the port to be unpublished');
    assert.deepEqual(downs, [3], 'down exactly at the third consecutive failure');
    assert.equal(fake.count('unpublish'), 1);
    assert.equal(portStatus(runner, 8001)?.registered, false);
    assert.match(portStatus(runner, 8001)?.checks[0]?.last?.detail ?? '', /port 8001 fails/);
  });

  it('keeps a port down while any of its checks is down', async () => {
    const other = new ScriptedChecks();
    const otherPlugin: CheckPlugin = { ...other.plugin, kind: 'other' };
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 }), scriptedCheck({ kind: 'other', rise: 1 })] }, {}, { plugins: [otherPlugin] });
    scripted.set(8001, 'pass');
    other.set(8001, 'fail');
    runner.start();
    await waitFor(() => (portStatus(runner, 8001)?.checks.find((entry) => entry.kind === 'scripted')?.passes ?? 0) >= 3, 'the passing check to pass a few times');
    await waitFor(() => (portStatus(runner, 8001)?.checks.find((entry) => entry.kind === 'other')?.fails ?? 0) >= 3, 'the failing check to fail a few times');
    assert.equal(fake.count('publish'), 0);
    other.set(8001, 'pass');
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published once both pass');
  });

  it('reports an unknown check plugin as a failing check that names service, port and check', async () => {
    const { runner, fake } = setup({ checks: [scriptedCheck({ kind: 'carrier-pigeon', rise: 1 })] });
    runner.start();
    const detail = await waitFor(() => portStatus(runner, 8001)?.checks[0]?.last?.detail, 'a result');
    assert.match(detail, /^no check plugin "carrier-pigeon" is registered$/);
    assert.equal(fake.count('publish'), 0);
  });
});

describe('service runner: timeouts and isolation', () => {
  it('one hung port does not delay another port', async () => {
    const { runner, fake, scripted } = setup({ ports: [8001, 8002], checks: [scriptedCheck({ rise: 1, fall: 1, timeoutMs: 600_000 })] });
    scripted.set(8001, 'hang');
    scripted.set(8002, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').includes('node1.example.com:8002'), 'port 8002 to be published');
    scripted.set(8002, 'fail');
    await waitFor(() => !fake.keys('webapp').includes('node1.example.com:8002'), 'port 8002 to be unpublished');
    scripted.set(8002, 'pass');
    await waitFor(() => fake.keys('webapp').includes('node1.example.com:8002'), 'port 8002 to be published again');
    const hung = portStatus(runner, 8001);
    assert.equal(hung?.checks[0]?.running, true, 'the first run on 8001 is still hanging');
    assert.equal(hung?.checks[0]?.last, null, 'and has produced no result');
    await runner.stop({ deregister: false });
    await waitFor(() => scripted.aborted === 1, 'stop to abort the hung check');
  });

  it('aborts a check at its timeout and records why', async () => {
    const { runner, scripted } = setup({ checks: [scriptedCheck({ rise: 1, fall: 1, timeoutMs: 50 })] });
    scripted.set(8001, 'hang');
    runner.start();
    const detail = await waitFor(() => portStatus(runner, 8001)?.checks[0]?.last?.detail, 'a timed-out result');
    assert.match(detail, /^timed out after 50 ms$/);
    assert.ok(scripted.aborted >= 1, 'the check saw its signal abort');
    assert.equal(portStatus(runner, 8001)?.up, false);
  });

  it('aborts a real tcp check against a service that never answers, and closes the socket', async () => {
    const sockets = new Set<Socket>();
    let connections = 0;
    const server = createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      // Reads (and ignores) the query, so the client's close is seen.
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const tcp: CheckSpec = { kind: 'tcp', rise: 1, fall: 1, timeoutMs: 100, config: { query: 'ruok', response: 'imok' } };
      const { runner } = setup({ ports: [port], intervalMs: 100, checks: [tcp] }, {}, { plugins: [tcpCheck as CheckPlugin] });
      runner.start();
      const detail = await waitFor(() => portStatus(runner, port)?.checks[0]?.last?.detail, 'a timed-out tcp result');
      assert.match(detail, /timed out after 100 ms/);
      await runner.stop({ deregister: false });
      assert.ok(connections >= 1);
      await waitFor(() => sockets.size === 0, 'every check socket to be closed');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('never overlaps two runs of one check, even when the check ignores its abort', async () => {
    let active = 0;
    let maxActive = 0;
    let started = 0;
    const releases: (() => void)[] = [];
    const stubborn: CheckPlugin = {
      kind: 'stubborn',
      schema: z.unknown(),
      create: () => ({
        run: () => {
          started += 1;
          active += 1;
          maxActive = Math.max(maxActive, active);
          return new Promise<CheckOutcome>((resolve) => {
            releases.push(() => {
              active -= 1;
              resolve({ passed: true, detail: 'finally' });
            });
          });
        },
      }),
    };
    const { runner } = setup({ intervalMs: 10, checks: [scriptedCheck({ kind: 'stubborn', timeoutMs: 20 })] }, {}, { plugins: [stubborn] });
    const details: string[] = [];
    runner.onCheckResult((event) => details.push(event.detail));
    runner.start();
    await waitFor(() => details.filter((detail) => /previous run still has not finished/.test(detail)).length >= 3, 'runs to be skipped while the first hangs');
    assert.equal(started, 1);
    assert.match(details[0] ?? '', /timed out after 20 ms/);
    releases.splice(0).forEach((release) => release());
    await waitFor(() => started >= 2, 'a new run once the stubborn one finished');
    releases.splice(0).forEach((release) => release());
    assert.equal(maxActive, 1);
  });
});

describe('service runner: registration upkeep', () => {
  it('re-publishes a registration the backend lost (reconciliation)', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 })] }, { reconcileMs: 30 });
    scripted.set(8001, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    const publishes = fake.count('publish');
    fake.lose('webapp', 'node1.example.com:8001');
    await waitFor(() => fake.keys('webapp').length === 1, 'the lost node to come back');
    assert.equal(fake.count('publish'), publishes + 1);
    assert.ok(fake.count('isPublished') >= 1);
  });

  it('re-publishes at once when the backend reports a registration lost', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    fake.lose('webapp', 'node1.example.com:8001');
    runner.onLost('node1.example.com:8999');
    assert.equal(fake.keys('webapp').length, 0, 'a loss of another node changes nothing');
    runner.onLost('node1.example.com:8001');
    await waitFor(() => fake.keys('webapp').length === 1, 'the lost node to come back');
    assert.equal(fake.count('isPublished'), 0, 'the event alone did it (reconciliation is off in this test)');
  });

  it('re-publishes everything up on a new session, and nothing that is down', async () => {
    const { runner, fake, scripted } = setup({ ports: [8001, 8002, 8003], checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    scripted.set(8002, 'pass');
    scripted.set(8003, 'fail');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 2, 'two ports to be published');
    const publishes = fake.count('publish');
    fake.newSession();
    await waitFor(() => fake.keys('webapp').length === 2, 'both up ports to be re-published');
    assert.equal(fake.count('publish'), publishes + 2);
    assert.deepEqual(fake.keys('webapp'), ['node1.example.com:8001', 'node1.example.com:8002']);
    assert.equal(fake.count('isPublished'), 0, 'the session event alone did it (reconciliation is off in this test)');
  });

  it('retries a failed publish with backoff and registers once the backend is back', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 })] });
    fake.failWrites = true;
    scripted.set(8001, 'pass');
    const failures: string[] = [];
    runner.onRegistration((event) => {
      if (!event.ok && event.error) failures.push(event.error);
    });
    runner.start();
    await waitFor(() => failures.length >= 3, 'several failed publish attempts');
    assert.match(failures[0] ?? '', /service webapp port 8001: publish of node1\.example\.com:8001 on discovery zk failed: fake discovery zk is unavailable/);
    const status = portStatus(runner, 8001);
    assert.equal(status?.up, true);
    assert.equal(status?.registered, false);
    assert.match(status?.lastError ?? '', /unavailable/);
    fake.failWrites = false;
    await waitFor(() => fake.keys('webapp').length === 1, 'the publish to succeed');
    await waitFor(() => portStatus(runner, 8001)?.lastError === null, 'the error to clear');
  });

  it('bounds the write rate of a flapping port', async () => {
    const { runner, fake, scripted } = setup({ intervalMs: 5, checks: [scriptedCheck({ rise: 1, fall: 1 })] }, { minWriteGapMs: 3_600_000 });
    scripted.set(8001, 'flap');
    const transitions: TransitionEvent[] = [];
    runner.onTransition((event) => transitions.push(event));
    runner.start();
    await waitFor(() => transitions.length >= 20, 'the port to flap twenty times');
    assert.equal(fake.count('publish') + fake.count('unpublish'), 1, 'only the first transition was written; the rest wait for the gap');
    await runner.stop({ deregister: true });
    assert.deepEqual(fake.keys('webapp'), [], 'stop does not wait for the write gap');
  });

  it('keeps checking a drained port but keeps it unpublished until undrained', async () => {
    const { runner, fake, scripted } = setup({ ports: [8001, 8002], checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    scripted.set(8002, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 2, 'both ports to be published');
    runner.setDrained([8001], 'deploy in progress');
    await waitFor(() => fake.keys('webapp').length === 1, 'the drained port to be unpublished');
    assert.deepEqual(fake.keys('webapp'), ['node1.example.com:8002']);
    const passes = portStatus(runner, 8001)?.checks[0]?.passes ?? 0;
    await waitFor(() => (portStatus(runner, 8001)?.checks[0]?.passes ?? 0) > passes + 2, 'the drained port to keep being checked');
    assert.equal(portStatus(runner, 8001)?.drained, 'deploy in progress');
    assert.equal(portStatus(runner, 8001)?.up, true);
    assert.equal(fake.keys('webapp').length, 1, 'still unpublished while up');
    runner.undrain([8001]);
    await waitFor(() => fake.keys('webapp').length === 2, 'the undrained port to be published again');
    assert.equal(portStatus(runner, 8001)?.drained, null);
  });

  it('drain "all" covers ports added later', async () => {
    const { runner, fake, scripted } = setup({ ports: [8001], checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    scripted.set(8002, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    runner.setDrained('all', 'machine maintenance');
    await waitFor(() => fake.keys('webapp').length === 0, 'the port to be unpublished');
    runner.update(serviceItem({ ports: [8001, 8002], checks: [scriptedCheck({ rise: 1 })] }));
    await waitFor(() => portStatus(runner, 8002)?.up, 'the new port to be up');
    assert.equal(portStatus(runner, 8002)?.drained, 'machine maintenance');
    assert.equal(fake.count('publish', { key: 'node1.example.com:8002' }), 0);
    runner.undrain('all');
    await waitFor(() => fake.keys('webapp').length === 2, 'both ports to be published');
  });
});

describe('service runner: update (make before break)', () => {
  it('re-publishes new metadata and check settings in place, never unpublishing', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 2, fall: 2 })] });
    scripted.set(8001, 'pass');
    const transitions: TransitionEvent[] = [];
    runner.onTransition((event) => transitions.push(event));
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    const created = scripted.created;
    runner.update(serviceItem({ hash: 'h2', metadata: { version: 2 }, checks: [scriptedCheck({ rise: 5, fall: 4, timeoutMs: 900 })] }));
    await waitFor(() => fake.registered('webapp', 'node1.example.com:8001')?.metadata.version === 2, 'the new metadata to be published');
    assert.equal(fake.count('unpublish'), 0);
    assert.equal(scripted.created, created + 1, 'the changed check got a new instance');
    assert.equal(scripted.closed, 1, 'and the old one was closed');
    assert.deepEqual(
      transitions.map((event) => event.up),
      [true],
      'the port never went down',
    );
    const status = portStatus(runner, 8001);
    assert.equal(status?.checks[0]?.rise, 5);
    assert.equal(status?.up, true);
  });

  it('a check added to an up port does not deregister it, and takes it down only after fall failures', async () => {
    const other = new ScriptedChecks();
    const otherPlugin: CheckPlugin = { ...other.plugin, kind: 'other' };
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 })] }, {}, { plugins: [otherPlugin] });
    scripted.set(8001, 'pass');
    other.set(8001, 'fail');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    const downs: number[] = [];
    runner.onTransition((event) => {
      if (!event.up) downs.push(portStatus(runner, 8001)?.checks.find((entry) => entry.kind === 'other')?.fails ?? -1);
    });
    runner.update(serviceItem({ checks: [scriptedCheck({ rise: 1 }), scriptedCheck({ kind: 'other', rise: 1, fall: 3 })] }));
    await waitFor(() => fake.keys('webapp').length === 0, 'the failing new check to take the port down');
    assert.deepEqual(downs, [3]);
  });

  it('unpublishes removed ports and starts added ports down', async () => {
    const { runner, fake, scripted } = setup({ ports: [8001, 8002], checks: [scriptedCheck({ rise: 3 })] });
    for (const port of [8001, 8002, 8003]) scripted.set(port, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 2, 'both ports to be published');
    runner.update(serviceItem({ ports: [8001, 8003], checks: [scriptedCheck({ rise: 3 })] }));
    assert.equal(portStatus(runner, 8003)?.up, false, 'an added port starts down');
    assert.equal(portStatus(runner, 8002), undefined, 'a removed port leaves the status');
    await waitFor(() => fake.keys('webapp').join() === 'node1.example.com:8001,node1.example.com:8003', 'the removed port out and the added port in');
    assert.equal(fake.count('unpublish', { key: 'node1.example.com:8001' }), 0);
    assert.equal(fake.count('unpublish', { key: 'node1.example.com:8002' }), 1);
  });

  it('moves a registration to a new advertised host by publishing the new one before removing the old', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    runner.update(serviceItem({ advertise: { host: 'web1.example.com' }, checks: [scriptedCheck({ rise: 1 })] }));
    await waitFor(() => fake.keys('webapp').join() === 'web1.example.com:8001', 'the registration to move');
    const publishNew = fake.calls.findIndex((call) => call.op === 'publish' && call.key === 'web1.example.com:8001');
    const unpublishOld = fake.calls.findIndex((call) => call.op === 'unpublish' && call.key === 'node1.example.com:8001');
    assert.ok(publishNew !== -1 && unpublishOld !== -1 && publishNew < unpublishOld, 'make before break');
  });

  it('refuses an in-place update to another discovery', () => {
    const item = serviceItem();
    assert.equal(canUpdateInPlace(item, serviceItem({ metadata: { version: 9 } })), true);
    assert.equal(canUpdateInPlace(item, serviceItem({ discovery: 'other' })), false);
    const { runner } = setup();
    assert.throws(() => runner.update(serviceItem({ discovery: 'other' })), /start a new runner/);
  });
});

describe('service runner: stop', () => {
  it('stop with deregister unpublishes every port before it resolves', async () => {
    const { runner, fake, scripted } = setup({ ports: [8001, 8002], checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    scripted.set(8002, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 2, 'both ports to be published');
    await runner.stop({ deregister: true });
    assert.deepEqual(fake.keys('webapp'), []);
    assert.equal(fake.count('unpublish'), 2);
    assert.equal(runner.phase, 'stopped');
    assert.equal(scripted.closed, 2, 'every check was closed');
  });

  it('stop without deregister leaves registrations to the session', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    await runner.stop({ deregister: false });
    assert.equal(fake.keys('webapp').length, 1);
    assert.equal(fake.count('unpublish'), 0);
  });

  it('stop gives up at its deadline when the backend is away', async () => {
    const { runner, fake, scripted } = setup({ checks: [scriptedCheck({ rise: 1 })] });
    scripted.set(8001, 'pass');
    runner.start();
    await waitFor(() => fake.keys('webapp').length === 1, 'the port to be published');
    fake.failWrites = true;
    await runner.stop({ deregister: true, deadlineMs: 100 });
    assert.equal(runner.phase, 'stopped');
    assert.ok(fake.count('unpublish', { ok: false }) >= 1, 'it tried');
    assert.equal(fake.keys('webapp').length, 1);
  });
});

describe('local identity', () => {
  const noInterfaces = () => ({});
  const interfaces = () => ({
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' as const, mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
    eth0: [{ address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '02:00:00:00:00:01', internal: false, cidr: '192.0.2.2/24' }],
  });

  it('uses a host name that already has a domain, and its non-loopback address', async () => {
    const found = await resolveLocalIdentity({
      hostname: () => 'web1.example.com',
      lookup: async (host) => (host === 'web1.example.com' ? ['127.0.1.1', '10.1.2.3'] : []),
      reverse: async () => 'wrong.example.com',
      interfaces,
    });
    assert.deepEqual(found, { fqdn: 'web1.example.com', ip: '10.1.2.3', hostname: 'web1.example.com' });
  });

  it('takes the reverse name only when it extends the host name', async () => {
    const found = await resolveLocalIdentity({
      hostname: () => 'web1',
      lookup: async (host) => (host === 'web1' ? ['127.0.1.1'] : host === 'web1.example.com' ? ['10.1.2.3'] : []),
      reverse: async () => 'web1.example.com',
      interfaces,
    });
    assert.deepEqual(found, { fqdn: 'web1.example.com', ip: '10.1.2.3', hostname: 'web1' });
  });

  it('never publishes "localhost" or a loopback address when /etc/hosts maps the name to 127.0.0.1', async () => {
    const found = await resolveLocalIdentity({
      hostname: () => 'vm',
      lookup: async () => ['127.0.0.1'],
      reverse: async () => 'localhost',
      interfaces,
    });
    assert.deepEqual(found, { fqdn: 'vm', ip: '192.0.2.2', hostname: 'vm' });
  });

  it('falls back to 127.0.0.1 when a resolver hangs and no interface has an address', async () => {
    const found = await resolveLocalIdentity({
      hostname: () => 'lonely',
      lookup: () => new Promise<string[]>(() => undefined),
      reverse: () => new Promise<string>(() => undefined),
      interfaces: noInterfaces,
      timeoutMs: 20,
    });
    assert.deepEqual(found, { fqdn: 'lonely', ip: '127.0.0.1', hostname: 'lonely' });
  });

  it('names the peer as HAProxy names itself (the host name), not after the FQDN, unless a host is advertised', async () => {
    // HAProxy's local peer name is gethostname(); a peers section without a
    // peer of that name is dropped (a warning only), and no table is shared.
    const identity = await resolveLocalIdentity({
      hostname: () => 'web1',
      lookup: async (host) => (host === 'web1' ? ['10.1.2.3'] : host === 'web1.example.com' ? ['10.1.2.3'] : []),
      reverse: async () => 'web1.example.com',
      interfaces,
    });
    const node = nodeFor(advertisedAddress(identity), 8001, {});
    assert.equal(node.host, 'web1.example.com', 'the node is still registered under the FQDN');
    assert.deepEqual(node.peer, { name: 'web1', ip: '10.1.2.3', port: 1024 });
    const advertised = nodeFor(advertisedAddress(identity, { host: 'web1.internal' }), 8001, {});
    assert.equal(advertised.peer?.name, 'web1.internal', 'an advertised host names the peer (the operator sets localpeer to match)');
  });

  it('resolves this machine to a name and an IPv4 address', async () => {
    const found = await resolveLocalIdentity();
    assert.ok(found.fqdn.length > 0);
    assert.ok(isIPv4(found.ip), found.ip);
  });
});
