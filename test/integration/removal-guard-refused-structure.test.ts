import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writer } from '../../src/writer/writer.js';
import { releaseHold } from '../../src/cli/release-hold-command.js';
import { connectClient, writeOriginalNode } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { startHttpBackends, httpGet, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import type { TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { BASE, startWriterStack, type WriterStack } from '../support/writer-stack.js';

/**
 * The removal guard next to a structural change HAProxy refuses: a held
 * cluster whose file is edited into something `haproxy -c` rejects keeps its
 * held members routed; a release while the change is refused still removes
 * them (runtime API); fixing the file installs the structure with the
 * members discovery lists.
 */
let stack: WriterStack;
let registrations: ZkClient | undefined;
let dir: TempDir;
let backends: HttpBackend[] = [];
let writer: Writer;
let webPort: number;

const haproxy = () => stack.haproxy();
const serving = (): Promise<Set<string>> => stack.serving('web');
const webFile = (backend: string[] = []) => `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n  backend: [${backend.map((line) => JSON.stringify(line)).join(', ')}]\n`;

before(async () => {
  backends = await startHttpBackends('web', 4);
  [webPort] = await freePorts(1);
  stack = await startWriterStack({ clusters: ['web'], files: { 'clusters/web.yaml': webFile() } });
  ({ writer, dir } = stack);
});

after(async () => {
  registrations?.close();
  await stack?.close();
  await Promise.all(backends.map((backend) => backend.close()));
});

test('a held cluster edited into a structure HAProxy refuses: held members stay routed, a release removes them, the fix installs what discovery lists', async () => {
  registrations = await connectClient(stack.zk.connectString);
  for (const backend of backends) await writeOriginalNode(registrations, BASE, 'web', { host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, peer: null });
  await waitFor(async () => (await serving()).size === 4, 'HAProxy to route the 4 members', 20_000);
  await waitFor(() => writer.state.get('web').listed === 4, 'the writer to list all 4');
  registrations.close();
  registrations = undefined;
  await waitFor(() => writer.state.get('web').listed === 0 && writer.state.get('web').held.length === 4, 'the hold', 20_000);

  const rejected = haproxy().control.counters.rejectedConfigs;
  await writeFile(join(dir.path, 'clusters', 'web.yaml'), webFile(['balance nosuchalgo']));
  await waitFor(() => haproxy().control.counters.rejectedConfigs > rejected, 'HAProxy to refuse the edited structure', 20_000);
  assert.equal((await serving()).size, 4, 'the held members stay routed while the change is refused');
  for (let index = 0; index < 5; index += 1) assert.equal((await httpGet(webPort)).status, 200);

  const outcome = await releaseHold(dir.path, 'web', 15_000);
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  await waitFor(async () => (await serving()).size === 0, 'the release to remove the held members while the structure is refused', 20_000);

  // Two come back, then the file is fixed: the structure is installed with exactly them.
  registrations = await connectClient(stack.zk.connectString);
  for (const backend of backends.slice(0, 2)) await writeOriginalNode(registrations, BASE, 'web', { host: `${backend.id}.test`, ip: '127.0.0.1', port: backend.port, peer: null });
  await waitFor(async () => (await serving()).size === 2, 'the 2 members listed again to be routed', 20_000);
  await writeFile(join(dir.path, 'clusters', 'web.yaml'), webFile(['balance first']));
  await waitFor(async () => /balance first/.test(await readFile(haproxy().control.paths.config, 'utf8')), 'the fixed structure in config_file', 20_000);
  await waitFor(async () => {
    const now = await serving();
    return now.size === 2 && backends.slice(0, 2).every((backend) => now.has(`${backend.id}.test:${backend.port}`));
  }, 'exactly the 2 listed members after the fix', 20_000);
  assert.equal(writer.state.get('web').held.length, 0);
});
