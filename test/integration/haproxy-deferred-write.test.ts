import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { backendsReached, startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { clusterOf, harness, member, type Harness } from './haproxy-harness.js';
import type { HaproxyBalancer } from '../../src/balancer/haproxy/balancer.js';

/**
 * Membership-only syncs apply the runtime API first and write the config
 * file in the background. The file must still be the truth: a reload
 * (structural change) or a restart never loads an older file than what the
 * runtime API applied. The coalescing delay is set far beyond the test so the
 * write is certainly still pending when the structural change comes.
 */

let h: Harness;
let balancer: HaproxyBalancer;
const backends: HttpBackend[] = [];
let webPort: number;
let otherPort: number;

before(async () => {
  [webPort, otherPort] = (await freePorts(2)) as [number, number];
  h = await harness();
  for (const id of ['web1', 'web2', 'web3', 'other1']) backends.push(await startHttpBackend(id));
  balancer = h.create({ configWriteQuietMs: 600_000, configWriteMaxDelayMs: 600_000 });
});

after(async () => {
  await h.stop();
  await Promise.all(backends.map((backend) => backend.close()));
});

const [web1, web2, web3, other1] = [0, 1, 2, 3].map((index) => () => backends[index]!);
const web = (ids: (() => HttpBackend)[]) => clusterOf('web', { port: webPort }, ids.map((id) => member(id())));

test('a membership change is served at once; its file write waits (coalescing)', async () => {
  await balancer.sync([web([web1, web2])]);
  await balancer.sync([web([web1, web2, web3])]);
  await waitFor(async () => (await backendsReached(webPort, 9)).has('web3'), 'web3 to get traffic');
  assert.equal(balancer.control.counters.reloads, 0);
  assert.doesNotMatch(await readFile(h.config.config_file, 'utf8'), /web3\.test/);
});

test('a structural change first writes the pending state: the reloaded worker keeps the runtime-added member', async () => {
  await balancer.sync([web([web1, web2, web3]), clusterOf('other', { port: otherPort }, [member(other1())])]);
  assert.equal(balancer.control.counters.reloads, 1);
  const text = await readFile(h.config.config_file, 'utf8');
  assert.match(text, /web3\.test/);
  assert.match(text, /backend other/);
  const seen = await backendsReached(webPort, 12);
  assert.deepEqual([...seen].sort(), ['web1', 'web2', 'web3']);
  assert.ok((await backendsReached(otherPort, 2)).has('other1'));
});

test('close() leaves the file matching what HAProxy runs', async () => {
  await balancer.sync([web([web2, web3]), clusterOf('other', { port: otherPort }, [member(other1())])]);
  assert.match(await readFile(h.config.config_file, 'utf8'), /web1\.test/);
  const before = { ...balancer.control.counters };
  await balancer.close();
  assert.doesNotMatch(await readFile(h.config.config_file, 'utf8'), /web1\.test/);
  // Only server lines the worker accepted changed since the last validated file: written without
  // `haproxy -c`, and still a file HAProxy accepts.
  assert.equal(balancer.control.counters.membershipWrites - before.membershipWrites, 1);
  assert.equal(balancer.control.counters.rejectedConfigs, 0);
  const check = spawnSync(h.config.haproxy_binary, ['-c', '-f', h.config.config_file], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});
