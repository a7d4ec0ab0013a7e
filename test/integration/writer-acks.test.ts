import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { adminSocket, parseStatCsv } from '../../src/balancer/haproxy/runtime-api.js';
import type { FleetReport } from '../../src/cli/fleet-view.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { BUILT_CLI, runCli } from '../support/cli.js';
import { haproxyYaml, writeConfig } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { httpGet, serve, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient, writeOriginalNode } from '../support/zookeeper.js';

/**
 * Writer acknowledgements end to end (docs/fleet-safety.md): two writers (two
 * config dirs, two HAProxys) and a reporter as processes on a real
 * ZooKeeper; `lighthouse fleet` and `drain/undrain --wait` through the built
 * CLI. The drained node answers /slow late, so a request through HAProxy
 * is still on it when discovery drops it: --wait must outlast it.
 */

const BASE = '/lighthouse/services';
const HOST = 'app.test';
const SLOW_MS = 4_000;

interface SlowService {
  port: number;
  /** /slow requests being answered / answered */
  active: number;
  finished: number;
  close(): Promise<void>;
}

async function startSlowService(): Promise<SlowService> {
  const service = { active: 0, finished: 0 } as SlowService;
  const server: Server = createServer((req, res) => {
    res.setHeader('Connection', 'close');
    if (req.url !== '/slow') return void res.end('ok');
    service.active += 1;
    setTimeout(() => {
      service.active -= 1;
      service.finished += 1;
      res.end('slow');
    }, SLOW_MS);
  });
  Object.assign(service, await serve(server));
  return service;
}

/** Servers of backend `proxy` the HAProxy of `runDir` routes to (present and not in maintenance). */
async function routed(runDir: string, proxy: string): Promise<Set<string>> {
  const socket = adminSocket(join(runDir, 'haproxy.sock'), { timeoutMs: 2_000 });
  try {
    const rows = parseStatCsv(await socket.command('show stat'));
    return new Set(rows.filter((row) => row.pxname === proxy && row.svname !== 'BACKEND' && row.svname !== 'FRONTEND' && !(row.status ?? '').startsWith('MAINT')).map((row) => row.svname ?? ''));
  } finally {
    socket.close();
  }
}

/** What every writer should acknowledge for the cluster: the newest zxid of its children (folder pzxid, children's mzxids). */
async function zkVersion(admin: ZkClient, cluster: string): Promise<string> {
  const folder = `${BASE}/${cluster}`;
  const { children, stat } = await admin.getChildren(folder);
  let version = stat.pzxid.readBigInt64BE(0);
  for (const child of children) {
    const mzxid = (await admin.getData(`${folder}/${child}`)).stat.mzxid.readBigInt64BE(0);
    if (mzxid > version) version = mzxid;
  }
  return version.toString();
}

describe('writer acknowledgements: fleet, drain --wait, undrain --wait (ZooKeeper, two writers)', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let slow: SlowService;
  let other: HttpBackend;
  const writers: Record<'a' | 'b', { dir: string; run: string; state: string; port: number; process?: DaemonProcess; id: string }> = {} as never;
  let reporterDir: string;
  let reporter: DaemonProcess | undefined;
  let node: string;

  const cli = (...args: string[]) => runCli(...args);
  const logs = async () =>
    (await Promise.all(['writer-a.log', 'writer-b.log', 'reporter.log'].map(async (file) => `--- ${file}\n${(await readFile(join(dir.path, file), 'utf8').catch(() => '')).slice(-6_000)}`))).join('\n');
  const fleet = async (): Promise<FleetReport> => JSON.parse((await cli('fleet', writers.a.dir, '--json', '--cluster', 'web')).stdout) as FleetReport;

  before(async () => {
    assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-acks-');
    slow = await startSlowService();
    other = await startHttpBackend('other');
    const [portA, portB] = await freePorts(2);
    node = `${HOST}:${slow.port}`;
    const zkYaml = (extra = '') => `hosts: [${zk.hosts.map((host) => `"${host}"`).join(', ')}]\npath: ${BASE}\nsession_timeout_ms: 10000\n${extra}`;
    for (const [name, port] of [['a', portA!], ['b', portB!]] as const) {
      const config = join(dir.path, `writer-${name}`);
      const run = join(dir.path, `run-${name}`);
      const state = join(dir.path, `state-${name}`);
      await mkdir(run, { recursive: true });
      await writeConfig(config, {
        'logging.yaml': 'level: info\nformat: json\n',
        'discovery/zookeeper.yaml': zkYaml(),
        'balancers/haproxy.yaml': haproxyYaml(run),
        'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${port}\n`,
      });
      writers[name] = { dir: config, run, state, port, id: `${hostname()}:${resolve(state)}` };
    }
    reporterDir = join(dir.path, 'reporter');
    await writeConfig(reporterDir, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zkYaml(`advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`),
      'services/web.yaml': `ports: [${slow.port}]\ndiscovery: zookeeper\nchecks:\n  interval: 0.2\n  http:\n    uri: /health\n    rise: 1\n    fall: 1\n`,
    });
    // A second member, so draining the first is no drop the removal guard would hold.
    await writeOriginalNode(admin, BASE, 'web', { host: 'other.test', ip: '127.0.0.1', port: other.port });
    for (const name of ['a', 'b'] as const) writers[name].process = startDaemon('writer', writers[name].dir, join(dir.path, `writer-${name}.log`), ['--state-dir', writers[name].state]);
    reporter = startDaemon('reporter', reporterDir, join(dir.path, 'reporter.log'));
    const both = new Set([node, `other.test:${other.port}`]);
    for (const name of ['a', 'b'] as const) {
      await waitFor(async () => {
        const servers = await routed(writers[name].run, 'web').catch(() => new Set<string>());
        return [...both].every((server) => servers.has(server));
      }, `writer ${name}'s HAProxy to route both members`, 30_000).catch(async (error: unknown) => assert.fail(`${String(error)}\n${await logs()}`));
    }
  });

  after(async () => {
    for (const name of ['a', 'b'] as const) writers[name]?.process?.signal('SIGCONT');
    await reporter?.stop();
    for (const name of ['a', 'b'] as const) await writers[name]?.process?.stop();
    for (const name of ['a', 'b'] as const) if (writers[name]) await killHaproxy(join(writers[name].run, 'haproxy.pid'));
    admin?.close();
    await slow?.close();
    await other?.close();
    await zk?.stop();
    await dir?.remove();
  });

  test('`lighthouse fleet` lists both writers with the version each applied (the cluster\'s, from ZooKeeper)', async () => {
    const expected = await zkVersion(admin, 'web');
    const report = await waitFor(async () => {
      const current = await fleet().catch(() => undefined);
      const web = current?.clusters.find((cluster) => cluster.name === 'web');
      return web && web.writers.length === 2 && web.writers.every((writer) => writer.version === expected) ? current : undefined;
    }, 'both writers to acknowledge the current version', 20_000).catch(async (error: unknown) => assert.fail(`${String(error)}\n${await logs()}`));
    assert.deepEqual(report.writers.map((writer) => writer.writer).sort(), [writers.a.id, writers.b.id].sort());
    const web = report.clusters.find((cluster) => cluster.name === 'web')!;
    assert.equal(web.newest, expected);
    for (const writer of web.writers) {
      assert.equal(writer.current, true);
      assert.equal(writer.versionGap, '0');
      assert.equal(writer.members, 2);
      assert.deepEqual(writer.held, []);
    }
    const table = await cli('fleet', writers.b.dir);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /2 live writers/);
    for (const name of ['a', 'b'] as const) assert.ok(table.stdout.includes(writers[name].id), table.stdout);
    assert.ok(table.stdout.includes(expected), table.stdout);
    const within = await cli('fleet', writers.a.dir, '--within', '5');
    assert.equal(within.code, 0, within.stderr);
  });

  test('drain --wait returns only once both writers stopped routing to the node and its last session ended', async () => {
    // Requests through writer A's HAProxy until one is in flight on the node that is about to be drained.
    const requests: Promise<unknown>[] = [];
    await waitFor(() => {
      if (slow.active > 0) return true;
      requests.push(httpGet(writers.a.port, '/slow', {}, SLOW_MS * 4).catch(() => undefined));
      return false;
    }, 'a /slow request on the node', 10_000, 200);
    const finishedBefore = slow.finished;
    const drained = await cli('drain', reporterDir, 'web', '--wait', '--timeout', '60');
    assert.equal(drained.code, 0, `${drained.stderr}\n${await logs()}`);
    // Returned after the session on the node ended, not merely after the removal.
    assert.ok(slow.finished > finishedBefore, `drain --wait returned while a session was still on ${node}: ${drained.stdout}`);
    for (const name of ['a', 'b'] as const) {
      assert.ok(drained.stdout.includes(writers[name].id), drained.stdout);
      assert.ok(!(await routed(writers[name].run, 'web')).has(node), `writer ${name}'s HAProxy still routes to ${node}`);
    }
    await Promise.all(requests);
  });

  test('undrain --wait returns once both writers route the node again', async () => {
    const undrained = await cli('undrain', reporterDir, 'web', '--wait', '--timeout', '60');
    assert.equal(undrained.code, 0, `${undrained.stderr}\n${await logs()}`);
    for (const name of ['a', 'b'] as const) assert.ok((await routed(writers[name].run, 'web')).has(node), `writer ${name}'s HAProxy does not route to ${node} yet`);
  });

  test('drain --wait fails naming the writer that is frozen (SIGSTOP), and `fleet --within` names it too', async () => {
    writers.b.process!.signal('SIGSTOP');
    try {
      const drained = await cli('drain', reporterDir, 'web', '--wait', '--timeout', '4');
      assert.equal(drained.code, 1, drained.stdout);
      assert.match(drained.stderr, /LH_ACK_TIMEOUT/);
      assert.ok(drained.stderr.includes(writers.b.id), drained.stderr);
      assert.ok(!drained.stderr.includes(writers.a.id), `writer A did acknowledge, yet is named: ${drained.stderr}`);
      // Writer A did stop routing; B's HAProxy, left alone, still does.
      assert.ok(!(await routed(writers.a.run, 'web')).has(node));
      assert.ok((await routed(writers.b.run, 'web')).has(node));
      const late = await cli('fleet', writers.a.dir, '--cluster', 'web', '--within', '0.5');
      assert.equal(late.code, 1, late.stdout);
      assert.ok(late.stderr.includes(writers.b.id), late.stderr);
      assert.ok(!late.stderr.includes(writers.a.id), late.stderr);
    } finally {
      writers.b.process!.signal('SIGCONT');
    }
    // Thawed, it catches up and acknowledges.
    await waitFor(async () => !(await routed(writers.b.run, 'web')).has(node), 'writer B to catch up', 30_000);
  });

  test('a writer frozen past its session timeout loses its record, and writes it again under its new session once thawed', async () => {
    writers.b.process!.signal('SIGSTOP');
    try {
      await waitFor(async () => (await fleet().catch(() => undefined))?.writers.map((writer) => writer.writer).join() === writers.a.id, 'writer B\'s record to vanish with its session', 40_000);
    } finally {
      writers.b.process!.signal('SIGCONT');
    }
    const expected = await zkVersion(admin, 'web');
    await waitFor(async () => {
      const web = (await fleet().catch(() => undefined))?.clusters.find((cluster) => cluster.name === 'web');
      return web?.writers.length === 2 && web.writers.every((writer) => writer.current && writer.version === expected);
    }, 'writer B to acknowledge again', 40_000).catch(async (error: unknown) => assert.fail(`${String(error)}\n${await logs()}`));
  });
});
