import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writer } from '../../src/writer/writer.js';
import { collectStatus, formatStatus } from '../../src/cli/status-command.js';
import { releaseHold } from '../../src/cli/release-hold-command.js';
import { coreRegistries } from '../support/core-registries.js';
import { connectClient, writeOriginalNode } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import type { TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { BASE, startWriterStack, type WriterStack } from '../support/writer-stack.js';

/**
 * The shipped systemd unit runs the writer with --state-dir on a read-only
 * /etc (ProtectSystem=strict). Its holds must be where it can write them:
 * otherwise status shows no hold and release-hold cannot end one. The
 * config dir's `.state` is a plain file here, so nothing can be written
 * under it, even by root.
 */
let stack: WriterStack;
let registrations: ZkClient | undefined;
let backends: HttpBackend[] = [];
let writer: Writer;
let dir: TempDir;
let stateDir: string;

const serving = async (): Promise<number> => (await stack.serving('web')).size;

before(async () => {
  backends = await startHttpBackends('web', 3);
  const [webPort] = await freePorts(1);
  stack = await startWriterStack({
    clusters: ['web'],
    files: { 'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n` },
    prepare: (path) => writeFile(join(path, '.state'), 'not a folder: the config dir is read-only for the writer\n'),
    writer: (path) => {
      stateDir = join(path, 'var-lib-lighthouse');
      return { memberCacheFile: join(stateDir, 'writer-members.json'), stateDir };
    },
  });
  ({ writer, dir } = stack);
});

after(async () => {
  registrations?.close();
  await stack?.close();
  await Promise.all(backends.map((backend) => backend.close()));
});

test('a writer with --state-dir and a read-only config dir: status shows its hold and release-hold ends it', async () => {
  registrations = await connectClient(stack.zk.connectString);
  for (const backend of backends) await writeOriginalNode(registrations, BASE, 'web', { host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, peer: null });
  await waitFor(async () => (await serving()) === 3, 'HAProxy to route the 3 members', 20_000);
  await waitFor(() => writer.state.get('web').listed === 3 && writer.state.get('web').hold === undefined, 'the writer to list all 3');
  registrations.close();
  registrations = undefined;
  await waitFor(() => writer.state.get('web').listed === 0, 'the writer to hear that ZooKeeper lists no members', 20_000);
  assert.equal(await serving(), 3, 'the guard keeps the 3 routed');

  const line = await waitFor(async () => (await readFile(join(dir.path, 'writer.log'), 'utf8')).split('\n').find((text) => text.includes('LH_REMOVAL_HELD')), 'the hold log line');
  assert.match(line, new RegExp(`lighthouse release-hold ${dir.path} web --state-dir ${stateDir}`), 'the log line gives a release command that finds the holds');
  const report = await waitFor(async () => {
    const status = await collectStatus(dir.path, coreRegistries(), 5_000, undefined, stateDir);
    return status.clusters[0]?.hold ? status : undefined;
  }, 'status --state-dir to show the hold', 10_000);
  assert.equal(report.clusters[0]?.hold?.held.length, 3);
  assert.match(formatStatus(report, { stateDir }), new RegExp(`release: lighthouse release-hold CONFIG_DIR web --state-dir ${stateDir}\\)`));
  const writeFailures = (await readFile(join(dir.path, 'writer.log'), 'utf8')).split('\n').filter((text) => text.includes('cannot write the holds file'));
  assert.deepEqual(writeFailures, [], 'the holds file is written');

  const outcome = await releaseHold(dir.path, 'web', 10_000, stateDir);
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  await waitFor(async () => (await serving()) === 0, 'HAProxy to empty the backend after the release', 20_000);
});
