import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_CLI, runCli } from '../support/cli.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { connectClient, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import type { StatusReport } from '../../src/cli/status-command.js';

/**
 * The built CLI as scripts use it: stdout a pipe to a consumer that reads
 * late (`| (sleep 1; cat)`), output larger than a pipe buffer (64 KiB).
 * Issue #19.7: `status` exited before the pipe drained, cutting its output at
 * 64 or 128 KiB with exit 0. And issue #11.11: `status` said "not registered"
 * when ZooKeeper did not answer at all.
 */

const BASE = '/lighthouse/cli-output';
const CLUSTERS = 1200;
const HOST = 'node-1.lighthouse.test';

let zk: ZookeeperCluster;
let client: ZkClient;
let dir: TempDir;
let big: string;
let broken: string;
let small: string;

before(async () => {
  assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first`);
  zk = await ZookeeperCluster.start();
  client = await connectClient(zk.connectString);
  dir = await tempDir('lighthouse-cli-output-');
  big = join(dir.path, 'big');
  broken = join(dir.path, 'broken');
  small = join(dir.path, 'small');
  const discovery = zookeeperYaml(zk.hosts, BASE, `advertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`);
  const bigFiles: Record<string, string> = { 'discovery/zookeeper.yaml': discovery };
  const brokenFiles: Record<string, string> = { 'discovery/zookeeper.yaml': discovery };
  for (let index = 0; index < CLUSTERS; index++) {
    const name = `cluster-with-a-fairly-long-name-${String(index).padStart(4, '0')}`;
    bigFiles[`clusters/${name}.yaml`] = 'discovery: zookeeper\n';
    brokenFiles[`clusters/${name}.yaml`] = 'discovery: zookeeper\nhaproxy:\n  port: not-a-port\n';
  }
  await writeConfig(big, bigFiles);
  await writeConfig(broken, brokenFiles);
  await writeConfig(small, {
    'discovery/zookeeper.yaml': discovery,
    'clusters/web.yaml': 'discovery: zookeeper\n',
    'services/web.yaml': 'discovery: zookeeper\nports: [8001, 8002]\nchecks:\n  interval: 1\n  tcp: { rise: 1, fall: 1 }\n',
  });
  await writeOriginalNode(client, BASE, 'web', { host: HOST, ip: '127.0.0.1', port: 8001 });
});

after(async () => {
  await client?.close();
  await zk?.stop();
  await dir?.remove();
});

interface PipedRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `lighthouse <args> | (sleep 1; cat)`: the CLI fills the pipe and must wait for the late reader. */
function throughSlowPipe(...args: string[]): Promise<PipedRun> {
  const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, BUILT_CLI, ...args].map(quote).join(' ');
  // The CLI's exit status goes to stderr last; sh has no pipefail.
  const child = spawn('sh', ['-c', `{ ${command}; echo "exit status $?" >&2; } | { sleep 1; cat; }`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => {
      const match = /exit status (\d+)\n$/.exec(stderr);
      if (!match) return reject(new Error(`no exit status: ${stderr}`));
      resolve({ code: Number(match[1]), stdout: Buffer.concat(out).toString('utf8'), stderr: stderr.slice(0, match.index) });
    });
  });
}

test(`status --json of ${CLUSTERS} clusters through a slow pipe: complete, valid JSON`, { timeout: 120_000 }, async () => {
  const direct = await runCli('status', big, '--json');
  assert.equal(direct.code, 0, direct.stderr);
  assert.ok(Buffer.byteLength(direct.stdout) > 2 * 65_536, `the output (${Buffer.byteLength(direct.stdout)} bytes) exceeds the pipe buffer and Node's read buffer`);
  for (let run = 0; run < 3; run++) {
    const piped = await throughSlowPipe('status', big, '--json');
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(Buffer.byteLength(piped.stdout), Buffer.byteLength(direct.stdout), `run ${run + 1}: every byte arrived`);
    const report = JSON.parse(piped.stdout) as StatusReport;
    assert.equal(report.clusters.length, CLUSTERS);
  }
});

test(`status (table) of ${CLUSTERS} clusters through a slow pipe: complete`, { timeout: 120_000 }, async () => {
  const piped = await throughSlowPipe('status', big);
  assert.equal(piped.code, 0, piped.stderr);
  assert.ok(Buffer.byteLength(piped.stdout) > 65_536, `${Buffer.byteLength(piped.stdout)} bytes`);
  assert.equal(piped.stdout.match(/^cluster /gm)?.length, CLUSTERS);
  assert.match(piped.stdout, /cluster-with-a-fairly-long-name-1199 \(discovery zookeeper\): 0 registered\n {2}\(no members\)\n$/);
});

test(`check-config with ${CLUSTERS} broken files through a slow pipe: every problem line, exit 1`, { timeout: 120_000 }, async () => {
  const piped = await throughSlowPipe('check-config', broken);
  assert.equal(piped.code, 1, piped.stderr);
  assert.ok(Buffer.byteLength(piped.stdout) > 65_536, `${Buffer.byteLength(piped.stdout)} bytes`);
  assert.equal(piped.stdout.split('\n').filter((line) => line.includes('haproxy.port')).length, CLUSTERS);
  assert.match(piped.stderr, new RegExp(`${CLUSTERS} problems`));
});

test('--help and a usage error through a slow pipe: complete, with their exit status', { timeout: 60_000 }, async () => {
  const help = await throughSlowPipe('--help');
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: lighthouse/);
  assert.match(help.stdout, /undrain/);
  const usage = await throughSlowPipe('status');
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /missing required argument 'config_dir'/);
});

test('status while ZooKeeper is stopped: "unknown" (null in --json), never "not registered"', { timeout: 120_000 }, async () => {
  const up = JSON.parse((await runCli('status', small, '--json')).stdout) as StatusReport;
  assert.deepEqual(up.services[0]?.ports.map((port) => port.registered), [true, false], 'with ZooKeeper up: 8001 registered, 8002 not');

  await client.close();
  await zk.stop();

  const json = await runCli('status', small, '--json', '--timeout', '1500');
  assert.equal(json.code, 1, 'part of the picture is missing');
  const down = JSON.parse(json.stdout) as StatusReport;
  assert.deepEqual(down.services[0]?.ports.map((port) => port.registered), [null, null]);
  assert.deepEqual([up.clusters[0]?.answered, down.clusters[0]?.answered], [true, false]);
  assert.ok(down.problems.some((problem) => problem.includes('did not answer')), down.problems.join('; '));

  const table = await runCli('status', small, '--timeout', '1500');
  assert.equal(table.code, 1);
  assert.match(table.stdout, /^cluster web \(discovery zookeeper\): registered: unknown \(discovery did not answer\)$/m);
  assert.match(table.stdout, /^\s+8001\s+\S+\s+unknown\s+no$/m);
  assert.match(table.stdout, /^\s+8002\s+\S+\s+unknown\s+no$/m);
  assert.doesNotMatch(table.stdout, /not listed|\s+no\s+no$/m);
});
