import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { stringify } from 'yaml';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { connectClient, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';
import { startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxySettings } from '../support/daemon-config.js';
import { BUILT_CLI } from '../support/cli.js';

/**
 * The dashboard's fleet panel (#13 part 5) in a real browser: two writers
 * (two config dirs, two HAProxys) on one ZooKeeper. The page of writer A
 * shows both with the version each applied; writer B frozen (SIGSTOP)
 * while `web` changes shows as behind, with its lag, then current again
 * once it runs (SIGCONT). Sessions outlive the freeze (30 s timeout), so B's
 * record stays while it is behind.
 */

const CHROMIUM = '/usr/bin/chromium';
const BASE = '/lighthouse/services';

let zk: ZookeeperCluster;
let client: ZkClient;
let dir: TempDir;
let backends: HttpBackend[];
const writers: ChildProcess[] = [];
let context: BrowserContext | undefined;
let pagePort: number;

async function writerOn(name: string, webPort: number, metricsPort: number): Promise<ChildProcess> {
  const root = join(dir.path, name);
  const files: Record<string, unknown> = {
    'discovery/zookeeper.yaml': { hosts: zk.hosts, path: BASE, session_timeout_ms: 30_000 },
    'balancers/haproxy.yaml': haproxySettings(root),
    'clusters/web.yaml': { discovery: 'zookeeper', haproxy: { port: webPort } },
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, 'config', path, '..'), { recursive: true });
    await writeFile(join(root, 'config', path), stringify(content));
  }
  const child = spawn(process.execPath, [BUILT_CLI, 'writer', join(root, 'config'), '--metrics-port', String(metricsPort)], { stdio: 'ignore' });
  writers.push(child);
  return child;
}

before(async () => {
  assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (Debian package chromium; npm test installs it)`);
  zk = await ZookeeperCluster.start();
  client = await connectClient(zk.connectString);
  dir = await tempDir('lighthouse-dashboard-fleet-');
  backends = await startHttpBackends('web', 2);
  await writeOriginalNode(client, BASE, 'web', { host: 'web-1.test', ip: '127.0.0.1', port: backends[0]!.port });
  const [webA, metricsA, webB, metricsB] = await freePorts(4);
  pagePort = metricsA!;
  await writerOn('a', webA!, metricsA!);
  await writerOn('b', webB!, metricsB!);
  context = await chromium.launchPersistentContext(join(dir.path, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  for (const writer of writers) {
    if (writer.exitCode !== null || writer.signalCode !== null) continue;
    writer.kill('SIGCONT');
    const exited = new Promise<void>((resolve) => writer.once('exit', () => resolve()));
    writer.kill('SIGTERM');
    await exited;
  }
  for (const name of ['a', 'b']) {
    const pid = Number((await readFile(join(dir.path, name, 'haproxy.pid'), 'utf8').catch(() => '')).trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  }
  client.close();
  await Promise.all(backends.map((backend) => backend.close()));
  await zk.stop();
  await dir.remove();
});

test('fleet panel: two writers with the version each applied; a frozen one shows behind with its lag, then catches up', { timeout: 120_000 }, async () => {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${pagePort}/healthz`).catch(() => undefined))?.ok === true, 'writer A to finish its initial sync', 30_000, 100);
  const page = await context!.newPage();
  await page.goto(`http://127.0.0.1:${pagePort}/`);
  const rows = page.locator('#fleet tr[data-writer]');
  await waitFor(async () => (await rows.count()) === 2, 'both writers in the fleet panel', 30_000, 200);
  const writerIds = await rows.evaluateAll((elements) => elements.map((element) => element.getAttribute('data-writer') ?? ''));
  assert.ok(writerIds.some((id) => id.endsWith(join(dir.path, 'a', 'config', '.state'))), writerIds.join(', '));
  const cell = (id: string) => page.locator(`#fleet tr[data-writer="${id}"] td[data-cluster="web"]`);
  const idB = writerIds.find((id) => id.endsWith(join(dir.path, 'b', 'config', '.state')))!;
  const idA = writerIds.find((id) => id !== idB)!;
  await waitFor(async () => (await cell(idA).getAttribute('data-state')) === 'current' && (await cell(idB).getAttribute('data-state')) === 'current', 'both writers current on web', 30_000, 200);
  const before = (await cell(idA).textContent()) ?? '';
  assert.match(before, /^v\d+ ✓/);

  writers[1]!.kill('SIGSTOP');
  await writeOriginalNode(client, BASE, 'web', { host: 'web-2.test', ip: '127.0.0.1', port: backends[1]!.port });
  await page.locator(`#fleet tr[data-writer="${idB}"] td[data-cluster="web"][data-state="behind"]`).waitFor({ timeout: 25_000 });
  assert.match((await cell(idB).textContent()) ?? '', /^v\d+ · behind \d+ \(\d+(\.\d)? s\)/);
  assert.equal(await cell(idA).getAttribute('data-state'), 'current');
  assert.notEqual((await cell(idA).textContent()) ?? '', before, 'writer A acknowledged the new version');

  if (process.env.LIGHTHOUSE_SCREENSHOT) await page.screenshot({ path: process.env.LIGHTHOUSE_SCREENSHOT.replace(/(\.png)?$/, '-fleet.png'), fullPage: true });

  writers[1]!.kill('SIGCONT');
  await page.locator(`#fleet tr[data-writer="${idB}"] td[data-cluster="web"][data-state="current"]`).waitFor({ timeout: 30_000 });
  await page.close();
});
