import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backendsReached, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { MOUNT_SKIP, smallFs, type SmallFs } from '../support/small-fs.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, killProcessesUsing, member, processesUsing, type Harness } from './haproxy-harness.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';

/**
 * HAProxy's config folder on a full disk (a small tmpfs, filled): every error
 * names its file, nothing is left behind, membership keeps going through the
 * runtime API, and HAProxy is started again after a crash.
 */

let h: Harness;
let fs: SmallFs;
let balancer: HaproxyBalancer;
const backends: HttpBackend[] = [];
let webPort: number;
let otherPort: number;

before(async () => {
  if (MOUNT_SKIP) return;
  [webPort, otherPort] = (await freePorts(2)) as [number, number];
  fs = await smallFs(2048);
  h = await harness({ config_file: join(fs.path, 'haproxy.cfg'), socket_file: join(fs.path, 'haproxy.sock'), pid_file: join(fs.path, 'haproxy.pid') });
  for (const id of ['web1', 'web2', 'web3', 'other1']) backends.push(await startHttpBackend(id));
  balancer = h.create({ configWriteQuietMs: 10, configWriteMaxDelayMs: 50 });
});

after(async () => {
  if (MOUNT_SKIP) return;
  await fs.free();
  await h.stop();
  await killProcessesUsing(fs.path);
  await fs.remove();
  await Promise.all(backends.map((backend) => backend.close()));
});

const [web1, web2, web3, other1] = [0, 1, 2, 3].map((index) => () => backends[index]!);
const web = (ids: (() => HttpBackend)[]) => clusterOf('web', { port: webPort }, ids.map((id) => member(id())));
const other = () => clusterOf('other', { port: otherPort }, [member(other1())]);
const logged = (pattern: RegExp): string[] => h.logs.filter((line) => pattern.test(line));
const leftovers = async (): Promise<string[]> => (await readdir(fs.path)).filter((name) => name.endsWith('.candidate') || name.endsWith('.tmp'));

test('a background config write on a full disk names the file, leaves no candidate, and is logged again only after it recovered', { skip: MOUNT_SKIP }, async () => {
  await balancer.sync([web([web1])]);
  await balancer.configWritten();
  await fs.fill();
  try {
    await balancer.sync([web([web1, web2])]);
    await waitFor(async () => (await backendsReached(webPort, 8)).has('web2'), 'web2 to get traffic through the runtime API');
    await waitFor(() => logged(/cannot write the HAProxy config after a runtime change/).length > 0, 'the background write to fail');
    const [line] = logged(/cannot write the HAProxy config after a runtime change/);
    assert.match(line!, /haproxy\.cfg\.candidate: cannot write: ENOSPC/, 'the error names the file');
    await balancer.sync([web([web1, web2, web3])]);
    await waitFor(async () => (await backendsReached(webPort, 12)).has('web3'), 'web3 to get traffic through the runtime API');
    await assert.rejects(balancer.configWritten(), /haproxy\.cfg\.candidate: cannot write: ENOSPC/);
    assert.deepEqual(await leftovers(), [], 'no candidate or temp file left');
    assert.equal(logged(/cannot write the HAProxy config after a runtime change/).filter((text) => /"level":50/.test(text)).length, 1, 'logged as an error once while it keeps failing');
  } finally {
    await fs.free();
  }
  await balancer.sync([web([web1, web2, web3])]);
  await balancer.configWritten();
  assert.match(await readFile(h.config.config_file, 'utf8'), /web3\.test/);
  assert.equal(logged(/the HAProxy config is written again/).length, 1, 'the recovery is logged');
});

test('a structural change on a full disk: the error names the file, membership still applies, and the change applies once there is room', { skip: MOUNT_SKIP }, async () => {
  await fs.fill();
  try {
    await assert.rejects(balancer.sync([web([web1, web2]), other()]), /haproxy\.cfg\.candidate: cannot write: ENOSPC.*every other change was applied/);
    const seen = await backendsReached(webPort, 12);
    assert.ok(!seen.has('web3'), 'the removed member gets no traffic');
    // The file write of that membership change fails too (in the background): wait for it, then look for litter.
    await assert.rejects(balancer.configWritten(), /ENOSPC/);
    assert.deepEqual(await leftovers(), []);
  } finally {
    await fs.free();
  }
  await balancer.sync([web([web1, web2]), other()]);
  assert.ok((await backendsReached(otherPort, 2)).has('other1'), 'the structural change applied');
  const text = await readFile(h.config.config_file, 'utf8');
  assert.match(text, /backend other/);
  assert.doesNotMatch(text, /web3\.test/);
});

test('HAProxy killed while the disk is full is started again from its unchanged config file', { skip: MOUNT_SKIP }, async () => {
  await balancer.configWritten();
  const config = await readFile(h.config.config_file, 'utf8');
  const before = await h.masterPid();
  await fs.fill();
  try {
    for (const pid of await processesUsing(fs.path)) {
      // A worker can exit between the listing and its kill (its master died first).
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    await waitFor(async () => (await h.masterPid()) !== before, 'a new HAProxy master', 20_000);
    await waitFor(async () => (await backendsReached(webPort, 8)).size === 2, 'web served again');
  } finally {
    await fs.free();
  }
  assert.equal(await readFile(h.config.config_file, 'utf8'), config);
});
