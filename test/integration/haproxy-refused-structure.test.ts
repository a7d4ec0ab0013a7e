import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backendsReached, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, processesUsing, type Harness } from './haproxy-harness.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';

/**
 * One cluster's structural change HAProxy refuses (`balance nosuchalgo`)
 * must not freeze the others: membership changes of every cluster HAProxy
 * runs still go through the runtime API (and into the file, so a restart
 * keeps them), a valid structural change made at the same time applies, and
 * only the refused change waits until its file is fixed.
 */

let h: Harness;
let balancer: HaproxyBalancer;
const backends: HttpBackend[] = [];
let webPort: number;
let otherPort: number;
let thirdPort: number;

before(async () => {
  [webPort, otherPort, thirdPort] = (await freePorts(3)) as [number, number, number];
  h = await harness();
  for (const id of ['web1', 'web2', 'web3', 'other1']) backends.push(await startHttpBackend(id));
  balancer = h.create({ configWriteQuietMs: 10, configWriteMaxDelayMs: 50, livenessIntervalMs: 100 });
});

after(async () => {
  if (process.env.HAPROXY_TEST_LOGS) console.log(h.logs.join(''));
  await h.stop();
  await Promise.all(backends.map((backend) => backend.close()));
});

const [web1, web2, web3, other1] = [0, 1, 2, 3].map((index) => () => backends[index]!);
const web = (ids: (() => HttpBackend)[]) => clusterOf('web', { port: webPort }, ids.map((id) => member(id())));
const other = (backend: string[] = []) => clusterOf('other', { port: otherPort, backend }, [member(other1())]);
const third = () => clusterOf('third', { port: thirdPort }, [member(other1(), 'third1.test')]);
const reached = (port: number, count = 12) => backendsReached(port, count).catch(() => new Set<string>());

test('membership of other clusters keeps applying while one structural change is refused, and survives a restart', async () => {
  await balancer.sync([web([web1, web2]), other()]);
  assert.deepEqual([...(await reached(webPort))].sort(), ['web1', 'web2']);

  // Refused change of "other", a scale-up of "web" and a new cluster "third" in the same sync.
  await assert.rejects(balancer.sync([web([web1, web2, web3]), other(['balance nosuchalgo']), third()]), (error: Error) => {
    assert.match(error.message, /HAProxy rejects the generated configuration \(from cluster "other"/, 'the error names the cluster');
    assert.match(error.message, /haproxy\.cfg/, 'and the file');
    assert.match(error.message, /every other change was applied/);
    return true;
  });
  await waitFor(async () => (await reached(webPort)).has('web3'), 'the added web member to get traffic');
  assert.ok((await reached(thirdPort, 2)).has('other1'), 'the valid new cluster applied');
  const rejected = balancer.control.counters.rejectedConfigs;

  // A drain of web while "other" is still refused: no new haproxy -c of the refused structure.
  await assert.rejects(balancer.sync([web([web1, web3]), other(['balance nosuchalgo']), third()]), /cluster "other"/);
  await waitFor(async () => !(await reached(webPort)).has('web2'), 'the removed web member to leave rotation');
  assert.equal(balancer.control.counters.rejectedConfigs, rejected, 'the refused structure is not checked again until it changes');

  await balancer.configWritten();
  const text = await readFile(h.config.config_file, 'utf8');
  assert.match(text, /web3\.test/, 'the file holds what the runtime API applied');
  assert.doesNotMatch(text, /web2\.test/);
  assert.doesNotMatch(text, /nosuchalgo/, 'never the refused change');
  assert.match(text, /backend third/);

  // A restart now must not lose the runtime-applied membership.
  const before = await h.masterPid();
  for (const pid of await processesUsing(h.dir.path)) process.kill(pid, 'SIGKILL');
  await waitFor(async () => (await h.masterPid()) !== before && balancer.health.up, 'HAProxy started again');
  await waitFor(async () => (await reached(webPort)).size === 2, 'web served again');
  assert.deepEqual([...(await reached(webPort))].sort(), ['web1', 'web3']);

  // The fixed file applies, and the file then equals the desired state.
  await balancer.sync([web([web1, web3]), other(['balance leastconn']), third()]);
  await balancer.configWritten();
  const fixed = await readFile(h.config.config_file, 'utf8');
  assert.match(fixed, /balance leastconn/);
  assert.match(fixed, /web3\.test/);
  assert.ok(h.logs.some((line) => /configuration HAProxy refused before passes now or is no longer wanted/.test(line)));
});

test('a refusal caused by something outside the config files (a missing errorfile) is checked again without an edit', async () => {
  const errorfile = join(h.dir.path, 'custom-503.http');
  const withErrorfile = () => clusterOf('other', { port: otherPort, backend: [`errorfile 503 ${errorfile}`] }, [member(other1())]);
  const clusters = () => [web([web1, web3]), withErrorfile(), third()];
  await assert.rejects(balancer.sync(clusters()), /cluster "other"/);
  await writeFile(errorfile, 'HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ncustom\r\n');
  // The writer retries a failed sync with backoff; the same render passes once HAProxy checks it again.
  await waitFor(
    async () => {
      await balancer.sync(clusters()).catch(() => undefined);
      return (await readFile(h.config.config_file, 'utf8')).includes(errorfile);
    },
    'the render to pass once the errorfile exists',
    40_000,
    1_000,
  );
});
