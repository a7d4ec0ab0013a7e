import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeConfig, haproxyYaml, zookeeperYaml } from '../support/daemon-config.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { connectClient, mkdirs, ZookeeperCluster } from '../support/zookeeper.js';

/**
 * The writer in a container (#18.4, docs/running.md "In a container"): the
 * first process of a new PID namespace, as `docker run` makes it, through
 * `unshare --pid --fork --mount-proc` (root only). What the docs claim is
 * what is checked here: SIGTERM stops the writer cleanly as PID 1; without
 * an init, the HAProxy processes the writer did not spawn itself (a worker
 * orphaned by a dead master) stay zombies under it, because Node reaps only
 * its own children; under tini (`docker run --init`) none remains.
 */
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const BASE = '/lighthouse/services';

async function installed(command: string): Promise<boolean> {
  return new Promise((resolve) => execFile('sh', ['-c', `command -v ${command}`], (error) => resolve(!error)));
}

const notRoot = process.getuid?.() === 0 ? false : 'needs root for a new PID namespace (unshare --pid)';
const noUnshare = notRoot || ((await installed('unshare')) ? false : 'unshare is not installed');
const noTini = noUnshare || ((await installed('tini')) ? false : 'tini is not installed (apt-get install tini; docker run --init uses it)');

let zk: ZookeeperCluster;
let dir: TempDir;

before(async () => {
  zk = await ZookeeperCluster.start();
  const client = await connectClient(zk.connectString);
  await mkdirs(client, `${BASE}/web`);
  client.close();
  dir = await tempDir('lighthouse-pid1-');
});

after(async () => {
  await zk?.stop();
  await dir?.remove();
});

interface Proc {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
}

async function proc(pid: number): Promise<Proc | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { pid, comm: stat.slice(stat.indexOf('(') + 1, close), state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Every process of the host whose parent is `ppid` (host PIDs). */
async function childrenOf(ppid: number): Promise<Proc[]> {
  const found: Proc[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = await proc(Number(entry));
    if (info?.ppid === ppid) found.push(info);
  }
  return found;
}

/** Every process inside the namespace of `init` (a host PID): its descendants. */
async function descendants(init: number): Promise<Proc[]> {
  const all: Proc[] = [];
  let frontier = [init];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const pid of frontier) for (const child of await childrenOf(pid)) { all.push(child); next.push(child.pid); }
    frontier = next;
  }
  return all;
}

interface Contained {
  unshare: ChildProcess;
  exited: Promise<number | null>;
  /** host PID of the namespace's PID 1 */
  init: number;
  /** host PID of the writer */
  writer: number;
  log: string;
}

async function startContained(name: string, withInit: boolean): Promise<Contained> {
  const configDir = join(dir.path, name);
  const runDir = join(configDir, 'run');
  const [port] = await freePorts(1);
  await writeConfig(configDir, {
    'discovery/zookeeper.yaml': zookeeperYaml([zk.connectString], BASE),
    'balancers/haproxy.yaml': haproxyYaml(runDir),
    'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${port}\n`,
  });
  const log = join(dir.path, `${name}.log`);
  const fd = openSync(log, 'a');
  const command = withInit ? ['tini', '--', process.execPath, CLI] : [process.execPath, CLI];
  const unshare = spawn('unshare', ['--pid', '--fork', '--mount-proc', ...command, 'writer', configDir], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => unshare.once('exit', (code) => resolve(code)));
  const init = (await waitFor(async () => (await childrenOf(unshare.pid!))[0], 'the namespace\'s PID 1', 30_000)).pid;
  const writer = withInit ? (await waitFor(async () => (await childrenOf(init)).find((child) => child.comm === 'node'), 'the writer under tini', 30_000)).pid : init;
  // Running once the writer has its HAProxy master (a child of its own).
  await waitFor(async () => {
    for (const child of await childrenOf(writer)) if (child.comm === 'haproxy' && child.state !== 'Z' && (await childrenOf(child.pid)).length > 0) return true;
    return false;
  }, 'HAProxy (master and worker) started by the writer', 60_000);
  return { unshare, exited, init, writer, log };
}

async function nsPid(pid: number): Promise<string | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1);
}

/** SIGKILLs the HAProxy master: its worker is orphaned to the namespace's PID 1 and exits; the writer starts a new master. */
async function killMaster(contained: Contained): Promise<void> {
  const master = (await childrenOf(contained.writer)).find((child) => child.comm === 'haproxy' && child.state !== 'Z');
  assert.ok(master, 'a HAProxy master under the writer');
  const workers = (await childrenOf(master.pid)).map((worker) => worker.pid);
  assert.ok(workers.length > 0, 'the master has a worker');
  process.kill(master.pid, 'SIGKILL');
  // The writer notices and starts a new master, and the old worker has ended (exited, whoever reaps it).
  await waitFor(async () => (await childrenOf(contained.writer)).some((child) => child.comm === 'haproxy' && child.state !== 'Z' && child.pid !== master.pid), 'a new HAProxy master', 60_000);
  await waitFor(async () => {
    for (const pid of workers) {
      const info = await proc(pid);
      if (info && info.state !== 'Z') return false;
    }
    return true;
  }, 'the orphaned worker to exit', 60_000);
}

async function stopContained(contained: Contained): Promise<{ code: number | null; log: string }> {
  const haproxy = (await descendants(contained.init)).filter((child) => child.comm === 'haproxy' && child.state !== 'Z').map((child) => child.pid);
  assert.ok(haproxy.length > 0, 'HAProxy runs before the stop');
  process.kill(contained.writer, 'SIGTERM');
  const code = await contained.exited;
  // Documented: unlike under systemd (KillMode=process), HAProxy ends with the namespace's PID 1.
  await waitFor(async () => (await Promise.all(haproxy.map(proc))).every((info) => info === undefined || info.state === 'Z'), 'HAProxy to end with PID 1', 30_000);
  return { code, log: await readFile(contained.log, 'utf8') };
}

test('container: the writer as PID 1 of its PID namespace stops cleanly on SIGTERM (exit 0, no error logged)', { skip: noUnshare, timeout: 180_000 }, async () => {
  const contained = await startContained('bare', false);
  try {
    assert.equal(await nsPid(contained.writer), '1', 'the writer is PID 1 in its namespace');
    await killMaster(contained);
    // Documented: without an init, the orphaned worker is a zombie of PID 1 (Node reaps only the processes it spawned).
    const zombies = (await childrenOf(contained.writer)).filter((child) => child.state === 'Z');
    assert.ok(zombies.length > 0, `expected the orphaned HAProxy worker as a zombie under a bare PID 1: ${JSON.stringify(await descendants(contained.init))}`);
  } finally {
    const { code, log } = await stopContained(contained);
    assert.equal(code, 0, log);
    assert.match(log, /"signal":"SIGTERM".*"msg":"stopping"|stopping.*SIGTERM/, log);
    assert.doesNotMatch(log, /"level":(50|60|"error"|"fatal")/, log);
  }
});

test('container: under tini (docker run --init) no zombie remains, and SIGTERM to the container stops the writer cleanly', { skip: noTini, timeout: 180_000 }, async () => {
  const contained = await startContained('tini', true);
  try {
    assert.equal(await nsPid(contained.init), '1', 'tini is PID 1');
    await killMaster(contained);
    await waitFor(async () => (await descendants(contained.init)).every((child) => child.state !== 'Z') || undefined, 'no zombie under tini', 30_000);
  } finally {
    // As `docker stop` does: SIGTERM to PID 1, which tini forwards to the writer.
    process.kill(contained.init, 'SIGTERM');
    const code = await contained.exited;
    const log = await readFile(contained.log, 'utf8');
    assert.equal(code, 0, log);
  }
});
