import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { httpGet, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, type Harness } from './haproxy-harness.js';

/**
 * The wall clock steps back an hour (an NTP correction, a VM restored from a
 * snapshot) while the writer drives HAProxy. Its waits are on the monotonic
 * clock: a deferred reload still comes after reload_min_interval_ms, and a
 * failed HAProxy start is still retried with its backoff, not an hour later.
 */

const STEP_MS = 3_600_000;
const realNow = Date.now;
let web1: HttpBackend;
const harnesses: Harness[] = [];
let blocker: Server | undefined;

before(async () => {
  web1 = await startHttpBackend('web1');
});

afterEach(() => {
  Date.now = realNow;
});

after(async () => {
  Date.now = realNow;
  blocker?.close();
  for (const h of harnesses) await h.stop();
  await web1.close();
});

const stepBack = (): void => {
  Date.now = () => realNow() - STEP_MS;
};

const answers = async (port: number): Promise<boolean> => (await httpGet(port).catch(() => ({ status: 0 }))).status === 200;

test('a structural change right after the clock stepped back is reloaded after reload_min_interval_ms, not an hour later', async () => {
  const h = await harness({ reload_min_interval_ms: 1000 });
  harnesses.push(h);
  const [aPort, bPort] = (await freePorts(2)) as [number, number];
  const balancer = h.create();
  await balancer.sync([clusterOf('a', { port: aPort }, [member(web1)])]);
  await waitFor(() => answers(aPort), 'cluster a served');
  stepBack();
  await balancer.sync([clusterOf('a', { port: aPort }, [member(web1)]), clusterOf('b', { port: bPort }, [member(web1)])]);
  await waitFor(() => answers(bPort), 'cluster b served after the deferred reload', 15_000);
});

test('a failed HAProxy start is retried with its backoff after the clock stepped back, not an hour later', async () => {
  const h = await harness();
  harnesses.push(h);
  const [port] = (await freePorts(1)) as [number];
  // Another program holds the frontend's port: the start fails and is retried with backoff.
  blocker = createServer();
  await new Promise<void>((resolve) => blocker!.listen(port, '127.0.0.1', () => resolve()));
  const balancer = h.create();
  await assert.rejects(balancer.sync([clusterOf('web', { port }, [member(web1)])]));
  await waitFor(() => h.logs.some((line) => line.includes('HAProxy is down and could not be started again')), 'the failed start');
  stepBack();
  await new Promise<void>((resolve) => blocker!.close(() => resolve()));
  blocker = undefined;
  await waitFor(() => answers(port), 'HAProxy serving once the port is free', 20_000);
});
