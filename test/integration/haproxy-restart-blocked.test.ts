import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { backendsReached, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, processesUsing, type Harness } from './haproxy-harness.js';
import { haproxyPaths } from '../../src/balancer/haproxy/paths.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';
import { registerHaproxyCounters } from '../../src/cli/dashboard.js';
import type { Writer } from '../../src/writer/writer.js';
import { Registry } from 'prom-client';

/**
 * HAProxy dies and cannot be started again at first (another program took
 * one of its ports before the restart): the balancer keeps retrying with
 * backoff, with no discovery change needed, until it serves again; down and
 * serving again are each logged once.
 */

let h: Harness;
let balancer: HaproxyBalancer;
const backends: HttpBackend[] = [];
let webPort: number;
let blocker: Server | undefined;

before(async () => {
  [webPort] = (await freePorts(1)) as [number];
  h = await harness();
  for (const id of ['web1', 'web2']) backends.push(await startHttpBackend(id));
  balancer = h.create({ livenessIntervalMs: 100 });
});

after(async () => {
  if (process.env.HAPROXY_TEST_LOGS) console.log(h.logs.join(''));
  blocker?.close();
  await h.stop();
  await Promise.all(backends.map((backend) => backend.close()));
});

/** Binds `port` as soon as the dying HAProxy lets go of it (before the balancer's restart can take it). */
async function takePort(port: number, deadlineMs = 5_000): Promise<Server> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) return server;
    if (Date.now() > deadline) throw new Error(`port ${port} still held after ${deadlineMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** `lighthouse_haproxy_up` as the writer's /metrics would show it. */
async function upGauge(): Promise<string | undefined> {
  const registry = new Registry();
  const writer = { balancerNames: () => ['haproxy'], balancer: () => balancer } as unknown as Writer;
  registerHaproxyCounters(registry, writer);
  return /^lighthouse_haproxy_up\{balancer="haproxy"\} (\d)$/m.exec(await registry.metrics())?.[1];
}

const logged = (pattern: RegExp, level?: number): string[] => h.logs.filter((line) => pattern.test(line) && (level === undefined || line.includes(`"level":${level}`)));

test('a restart that fails (port taken) is retried with backoff until HAProxy serves again', async () => {
  await balancer.sync([clusterOf('web', { port: webPort }, backends.map((backend) => member(backend)))]);
  assert.equal(await upGauge(), '1');
  const config = await readFile(h.config.config_file, 'utf8');
  const before = await h.masterPid();

  const pids = await processesUsing(h.dir.path);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  blocker = await takePort(webPort);
  await waitFor(() => logged(/HAProxy is down and could not be started again/).length > 0, 'the failed restart to be reported');
  assert.match(logged(/HAProxy is down and could not be started again/)[0]!, /Address already in use|cannot bind/i);
  assert.equal(await upGauge(), '0', 'lighthouse_haproxy_up reads 0');
  // What `lighthouse status` shows while it is down (written in the background).
  const marker = await waitFor(async () => {
    const text = await readFile(haproxyPaths(h.config).down, 'utf8').catch(() => '{}');
    const parsed = JSON.parse(text) as { since?: string; error?: string; attempts?: number };
    return (parsed.attempts ?? 0) >= 1 ? parsed : undefined;
  }, 'the down marker with the failed attempt');
  assert.match(marker.error!, /HAProxy did not start/);

  // Hold the port through several attempts, then let go: no sync, no discovery change.
  await waitFor(() => logged(/HAProxy still cannot be started/).length >= 1, 'a second attempt', 20_000);
  await new Promise<void>((resolve) => blocker!.close(() => resolve()));
  blocker = undefined;
  await waitFor(async () => (await backendsReached(webPort, 8).catch(() => new Set<string>())).size === 2, 'HAProxy serving again after the port was freed', 60_000);

  assert.notEqual(await h.masterPid(), before);
  // Traffic can flow a moment before `show proc` confirms the start.
  await waitFor(async () => (await upGauge()) === '1', 'lighthouse_haproxy_up to read 1 again');
  await waitFor(async () => (await readFile(haproxyPaths(h.config).down, 'utf8').catch(() => undefined)) === undefined, 'the down marker to be removed');
  assert.equal(await readFile(h.config.config_file, 'utf8'), config, 'started from the unchanged config file');
  assert.equal(logged(/HAProxy is down and could not be started again/, 50).length, 1, 'the outage is logged once as an error');
  assert.equal(logged(/HAProxy is serving again/).length, 1, 'and its end once');
});
