import { freePorts } from '../../test/support/ports.js';
import { startBackends } from '../lib/backends.js';
import { startWriter, type BenchContext, type Mode } from '../lib/context.js';
import { readLog, reloadsBetween } from '../lib/lighthouse.js';
import { sleep, stopChild, waitUntil } from '../lib/procs.js';
import { parseStatCsv } from '../../src/balancer/haproxy/runtime-api.js';
import { runWrk, type WrkResult } from '../lib/wrk.js';
import { createNode, createNodes, deleteNode, type BenchNode } from '../lib/zk.js';

export interface ChurnResult {
  mode: Mode;
  seconds: number;
  changes: number;
  keepAlive: Pick<WrkResult, 'requests' | 'errors' | 'non2xx' | 'socketErrors' | 'requestsPerSecond' | 'latencyP99Ms'>;
  close: Pick<WrkResult, 'requests' | 'errors' | 'non2xx' | 'socketErrors' | 'requestsPerSecond' | 'latencyP99Ms'>;
  requests: number;
  errors: number;
  reloads: number;
}

const STABLE = 4;

function brief(result: WrkResult): ChurnResult['keepAlive'] {
  const { requests, errors, non2xx, socketErrors, requestsPerSecond, latencyP99Ms } = result;
  return { requests, errors, non2xx, socketErrors, requestsPerSecond, latencyP99Ms };
}

/**
 * Churn under load: 4 stable nodes, and a node added or removed every
 * 100 ms (10 changes/s) while two wrk clients run, one keep-alive, one with
 * `Connection: close`. Counts failed requests and HAProxy reloads.
 */
export async function churn(context: BenchContext, mode: Mode, seconds: number): Promise<ChurnResult> {
  const base = `/bench/churn-${mode}`;
  const backends = await startBackends(STABLE, 'churn');
  const stable = backends.ports.map((port, index) => ({ cluster: 'churn', node: { host: `s${index}.churn.bench`, port } }));
  await createNodes(context.client, base, stable);
  const [frontend] = await freePorts(1);
  const writer = await startWriter(context, `churn-${mode}`, { zkPath: base, mode, clusters: [{ name: 'churn', port: frontend! }] });
  try {
    await waitUntil(async () => ((await writer.view.routableServers()).get('churn')?.size ?? 0) >= STABLE, 'the stable nodes to be routable', 60_000, 100);
    await sleep(1_500);
    const live: BenchNode[] = [];
    let changes = 0;
    let stopChurn = false;
    const churnStarted = Date.now();
    const churnLoop = (async () => {
      await sleep(1_000); // wrk connects first
      let next = 0;
      const started = performance.now();
      while (!stopChurn) {
        // Up to 5 churning nodes: add while fewer, then alternate remove/add.
        if (live.length < 5 && changes % 2 === 0) {
          const node = { host: `c${next}.churn.bench`, port: backends.ports[next % STABLE]! };
          next += 1;
          await createNode(context.client, base, 'churn', node);
          live.push(node);
        } else if (live.length > 0) {
          await deleteNode(context.client, base, 'churn', live.shift()!);
        }
        changes += 1;
        // 10 per second, on a fixed schedule rather than after each op.
        const due = started + changes * 100;
        await sleep(Math.max(0, due - performance.now()));
      }
    })();
    const [keepAlive, close] = await Promise.all([
      runWrk({ port: frontend!, durationSeconds: seconds, connections: 16 }),
      runWrk({ port: frontend!, durationSeconds: seconds, connections: 8, close: true }),
    ]);
    stopChurn = true;
    await churnLoop;
    const churnEnded = Date.now();
    await sleep(300);
    const reloads = reloadsBetween(await readLog(writer.paths.logFile), churnStarted, churnEnded);
    return {
      mode,
      seconds,
      changes,
      keepAlive: brief(keepAlive),
      close: brief(close),
      requests: keepAlive.requests + close.requests,
      errors: keepAlive.errors + close.errors,
      reloads,
    };
  } catch (error) {
    throw await writer.explain(error);
  } finally {
    await writer.stop();
    await stopChild(backends.child);
  }
}

export interface BackendDeathResult {
  seconds: number;
  /** requests HAProxy had open on the killed backend's server right before the kill (show stat scur) */
  inFlightAtKill: number;
  requests: number;
  errors: number;
  keepAliveErrors: number;
  closeErrors: number;
}

/**
 * Abrupt backend death: 3 nodes, one served by its own process, which is
 * SIGKILLed under load (its znode stays: nothing told discovery). With the
 * writer's defaults (retries, redispatch, retry-on conn-failure) only
 * requests in flight on it may fail.
 */
export async function backendDeath(context: BenchContext, seconds: number): Promise<BackendDeathResult> {
  const base = '/bench/death';
  const survivors = await startBackends(2, 'live');
  const victim = await startBackends(1, 'victim');
  const nodes = [
    ...survivors.ports.map((port, index) => ({ cluster: 'death', node: { host: `live${index}.death.bench`, port } })),
    { cluster: 'death', node: { host: 'victim.death.bench', port: victim.ports[0]! } },
  ];
  await createNodes(context.client, base, nodes);
  const [frontend] = await freePorts(1);
  const writer = await startWriter(context, 'death', { zkPath: base, mode: 'lighthouse', clusters: [{ name: 'death', port: frontend! }] });
  const victimServer = `victim.death.bench:${victim.ports[0]}`;
  try {
    await waitUntil(async () => ((await writer.view.routableServers()).get('death')?.size ?? 0) >= 3, 'the 3 nodes to be routable', 60_000, 100);
    await sleep(500);
    let inFlightAtKill = 0;
    const killer = (async () => {
      await sleep((seconds * 1000) / 3);
      const stats = parseStatCsv(await writer.view.admin.command('show stat'));
      inFlightAtKill = Number(stats.find((row) => row.pxname === 'death' && row.svname === victimServer)?.scur ?? 0);
      victim.child.kill('SIGKILL');
    })();
    const [keepAlive, close] = await Promise.all([
      runWrk({ port: frontend!, durationSeconds: seconds, connections: 16 }),
      runWrk({ port: frontend!, durationSeconds: seconds, connections: 8, close: true }),
    ]);
    await killer;
    return {
      seconds,
      inFlightAtKill,
      requests: keepAlive.requests + close.requests,
      errors: keepAlive.errors + close.errors,
      keepAliveErrors: keepAlive.errors,
      closeErrors: close.errors,
    };
  } catch (error) {
    throw await writer.explain(error);
  } finally {
    await writer.stop();
    await stopChild(survivors.child);
    await stopChild(victim.child);
  }
}
