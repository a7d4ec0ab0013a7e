import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigDirectory } from '../../src/config/directory.js';
import { ConfigWatcher } from '../../src/config/watcher.js';
import type { ConfigSnapshot } from '../../src/config/snapshot.js';
import { silentLogger } from '../../src/lib/logger.js';
import { tempDir } from '../support/temp-dir.js';
import { testRegistries } from '../support/test-registries.js';
import { waitFor } from '../support/wait-for.js';

async function setup() {
  const dir = await tempDir();
  await mkdir(join(dir.path, 'clusters'));
  await mkdir(join(dir.path, 'discovery'));
  await writeFile(join(dir.path, 'discovery', 'zookeeper.yaml'), 'hosts: ["127.0.0.1:2181"]\npath: /lighthouse\n');
  let latest: ConfigSnapshot | undefined;
  const problems: string[] = [];
  const watcher = new ConfigWatcher(new ConfigDirectory(dir.path, testRegistries()), {
    logger: silentLogger(),
    debounceMs: 10,
    pollMs: 0,
    onSnapshot: (snapshot) => {
      latest = snapshot;
    },
    onProblems: (scan) => problems.push(...scan.newProblems.map((problem) => `${problem.file}: ${problem.setting ?? ''}: ${problem.message}`)),
  });
  await watcher.start();
  const port = (name: string) => {
    const item = latest?.clusters.get(name);
    return (item?.balancer.haproxy as { port?: number } | undefined)?.port;
  };
  return { dir, watcher, port, problems, snapshot: () => latest, cleanup: async () => { await watcher.close(); await dir.remove(); } };
}

test('cluster files added, changed and removed at run time', async () => {
  const env = await setup();
  try {
    const file = join(env.dir.path, 'clusters', 'web.yaml');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8000}\n');
    await waitFor(() => env.port('web') === 8000, 'web added');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8001}\n');
    await waitFor(() => env.port('web') === 8001, 'web changed');
    await rm(file);
    await waitFor(() => env.snapshot()?.clusters.has('web') === false, 'web removed');
  } finally {
    await env.cleanup();
  }
});

test('an invalid edit keeps the last good version; fixing the file takes effect', async () => {
  const env = await setup();
  try {
    const file = join(env.dir.path, 'clusters', 'web.yaml');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8000}\n');
    await waitFor(() => env.port('web') === 8000, 'web added');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: nope}\n');
    await waitFor(() => env.problems.some((line) => line.includes('web.yaml') && line.includes('haproxy.port')), 'problem reported');
    assert.equal(env.port('web'), 8000, 'last good version stays');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8002}\n');
    await waitFor(() => env.port('web') === 8002, 'fixed version in force');
  } finally {
    await env.cleanup();
  }
});

test('every edit style ends in the file\'s final content', async () => {
  const env = await setup();
  try {
    const file = join(env.dir.path, 'clusters', 'web.yaml');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8000}\n');
    await waitFor(() => env.port('web') === 8000, 'initial');
    // atomic rename, as most editors and config managers do
    const temp = join(env.dir.path, 'clusters', '.web.yaml.tmp');
    await writeFile(temp, 'discovery: zookeeper\nhaproxy: {port: 8001}\n');
    await rename(temp, file);
    await waitFor(() => env.port('web') === 8001, 'rename');
    // sed -i writes a temp file and renames it over the original
    execFileSync('sed', ['-i', 's/8001/8002/', file]);
    await waitFor(() => env.port('web') === 8002, 'sed -i');
    // vim-style: swap file next to it, then delete + re-create quickly
    await writeFile(join(env.dir.path, 'clusters', '.web.yaml.swp'), 'binary junk \u0000');
    await rm(file);
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8003}\n');
    await rm(join(env.dir.path, 'clusters', '.web.yaml.swp'));
    await waitFor(() => env.port('web') === 8003, 'delete and re-create');
    // in-place truncate + write
    await writeFile(file, '');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8004}\n');
    await waitFor(() => env.port('web') === 8004, 'truncate + write');
  } finally {
    await env.cleanup();
  }
});

test('an unreadable file is reported and keeps its last good version', { skip: process.getuid?.() === 0 ? 'root reads any file' : false }, async () => {
  const env = await setup();
  try {
    const file = join(env.dir.path, 'clusters', 'web.yaml');
    await writeFile(file, 'discovery: zookeeper\nhaproxy: {port: 8000}\n');
    await waitFor(() => env.port('web') === 8000, 'initial');
    await chmod(file, 0);
    await env.watcher.rescan();
    assert.equal(env.port('web'), 8000);
  } finally {
    await env.cleanup();
  }
});

test('two files claiming one name: the second is reported', async () => {
  const env = await setup();
  try {
    await writeFile(join(env.dir.path, 'clusters', 'a.yaml'), 'name: api\ndiscovery: zookeeper\nhaproxy: {port: 1}\n');
    await writeFile(join(env.dir.path, 'clusters', 'b.yaml'), 'name: api\ndiscovery: zookeeper\nhaproxy: {port: 2}\n');
    await waitFor(() => env.problems.some((line) => line.includes('b.yaml') && line.includes('already defined by')), 'conflict reported');
    assert.equal(env.port('api'), 1);
  } finally {
    await env.cleanup();
  }
});

test('a new file claiming the name of an item in force is ignored; the item keeps running (#11 B)', async () => {
  const env = await setup();
  try {
    await writeFile(join(env.dir.path, 'clusters', 'web.yaml'), 'discovery: zookeeper\nhaproxy: {port: 1}\n');
    await waitFor(() => env.port('web') === 1, 'web in force');
    // a.yaml sorts before web.yaml: path order alone would hand it the name.
    await writeFile(join(env.dir.path, 'clusters', 'a.yaml'), 'name: web\ndiscovery: zookeeper\nhaproxy: {port: 2}\n');
    const webFile = join(env.dir.path, 'clusters', 'web.yaml');
    const aFile = join(env.dir.path, 'clusters', 'a.yaml');
    await waitFor(() => env.problems.some((line) => line.startsWith(`${aFile}: name: `) && line.includes(`already defined by ${webFile}`)), 'the newcomer reported with both files named');
    assert.equal(env.port('web'), 1, 'the item in force keeps its settings');
    assert.equal(env.snapshot()?.clusters.get('web')?.file, webFile);
    assert.ok(!env.problems.some((line) => line.startsWith(`${webFile}:`)), `the file in force is not blamed: ${env.problems.join('; ')}`);
    // The file in force renamed away: the remaining claimant takes the name over.
    await writeFile(webFile, 'name: web-old\ndiscovery: zookeeper\nhaproxy: {port: 3}\n');
    await waitFor(() => env.port('web') === 2, 'the remaining claimant to take over');
    assert.equal(env.port('web-old'), 3);
  } finally {
    await env.cleanup();
  }
});

test('the conflict is logged as ignored, not as "the last good version stays in force"', async () => {
  const dir = await tempDir();
  try {
    await mkdir(join(dir.path, 'clusters'), { recursive: true });
    await writeFile(join(dir.path, 'clusters', 'web.yaml'), 'discovery: zookeeper\n');
    await writeFile(join(dir.path, 'clusters', 'a.yaml'), 'name: web\ndiscovery: zookeeper\n');
    const lines: string[] = [];
    const logger = { ...silentLogger(), error: (_fields: unknown, message: string) => lines.push(message) } as unknown as ReturnType<typeof silentLogger>;
    const watcher = new ConfigWatcher(new ConfigDirectory(dir.path, testRegistries()), { logger, debounceMs: 10, pollMs: 0, onSnapshot: () => undefined });
    await watcher.start();
    await watcher.close();
    const aFile = join(dir.path, 'clusters', 'a.yaml');
    assert.deepEqual(lines, [`${join(dir.path, 'clusters', 'web.yaml')}: name: cluster "web" is already defined by ${aFile} (this file is ignored; ${aFile} stays in force)`]);
  } finally {
    await dir.remove();
  }
});

test('an item folder deleted and re-created (or created after start) is watched again', async () => {
  const env = await setup();
  try {
    const folder = join(env.dir.path, 'clusters');
    await rm(folder, { recursive: true });
    await mkdir(folder);
    await writeFile(join(folder, 'web.yaml'), 'discovery: zookeeper\nhaproxy: {port: 8100}\n');
    await waitFor(() => env.port('web') === 8100, 'file in the re-created folder');
    await writeFile(join(folder, 'web.yaml'), 'discovery: zookeeper\nhaproxy: {port: 8101}\n');
    await waitFor(() => env.port('web') === 8101, 'later in-place edit in the re-created folder');
  } finally {
    await env.cleanup();
  }
});
