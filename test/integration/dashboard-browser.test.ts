import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { stringify } from 'yaml';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { connectClient, writeOriginalNode, ZookeeperCluster } from '../support/zookeeper.js';
import { startHttpBackends, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { haproxySettings } from '../support/daemon-config.js';

/**
 * The writer's dashboard in a real browser (Debian's headless Chromium via
 * playwright-core): a node registered in ZooKeeper appears on the page with
 * HAProxy's state, and disappears when its znode goes, with both changes
 * listed. A screenshot is saved in the test's temp folder (and copied to
 * $LIGHTHOUSE_SCREENSHOT when set, to look at it after the run).
 */

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const BASE = '/lighthouse/services';

let zk: ZookeeperCluster;
let client: ZkClient;
let dir: TempDir;
let backends: HttpBackend[];
let writer: ChildProcess | undefined;
let context: BrowserContext | undefined;
let dashboardPort: number;

before(async () => {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (Debian package chromium; npm test installs it)`);
  zk = await ZookeeperCluster.start();
  client = await connectClient(zk.connectString);
  dir = await tempDir('lighthouse-dashboard-');
  backends = await startHttpBackends('app', 3);
  const [webPort, apiPort, metricsPort] = await freePorts(3);
  dashboardPort = metricsPort!;
  const config = join(dir.path, 'config');
  const files: Record<string, unknown> = {
    'discovery/zookeeper.yaml': { hosts: zk.hosts, path: BASE },
    'balancers/haproxy.yaml': haproxySettings(dir.path),
    'clusters/web.yaml': { discovery: 'zookeeper', haproxy: { port: webPort } },
    'clusters/api.yaml': { discovery: 'zookeeper', haproxy: { port: apiPort } },
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(config, path, '..'), { recursive: true });
    await writeFile(join(config, path), stringify(content));
  }
  writer = spawn(process.execPath, [MAIN, 'writer', config, '--metrics-port', String(dashboardPort)], { stdio: 'ignore' });
  await writeOriginalNode(client, BASE, 'web', { host: 'web-1.test', ip: '127.0.0.1', port: backends[0]!.port });
  await writeOriginalNode(client, BASE, 'api', { host: 'api-1.test', ip: '127.0.0.1', port: backends[1]!.port });

  context = await chromium.launchPersistentContext(join(dir.path, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  if (writer && writer.exitCode === null) {
    const exited = new Promise<void>((resolve) => writer!.once('exit', () => resolve()));
    writer.kill('SIGTERM');
    await exited;
  }
  const pid = Number((await readFile(join(dir.path, 'haproxy.pid'), 'utf8').catch(() => '')).trim());
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 'HAProxy to exit', 5_000);
    } catch {
      /* already gone */
    }
  }
  client.close();
  await Promise.all(backends.map((backend) => backend.close()));
  await zk.stop();
  await dir.remove();
});

test('dashboard: a node appears with its HAProxy state and disappears, in a real browser', { timeout: 60_000 }, async () => {
  const page = await context!.newPage();
  await waitFor(async () => (await fetch(`http://127.0.0.1:${dashboardPort}/healthz`)).ok, 'the writer to finish its initial sync', 30_000, 100);
  await page.goto(`http://127.0.0.1:${dashboardPort}/`);
  assert.equal(await page.title(), 'Lighthouse writer');
  await page.locator('#ready').filter({ hasText: 'in sync' }).waitFor({ timeout: 15_000 });

  const node = `web-2.test:${backends[2]!.port}`;
  const row = page.locator(`article[data-cluster="web"] tr[data-node="${node}"]`);
  assert.equal(await row.count(), 0, 'not on the page before it is registered');

  const path = await writeOriginalNode(client, BASE, 'web', { host: 'web-2.test', ip: '127.0.0.1', port: backends[2]!.port });
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  // HAProxy's own view arrives with the runtime API change: a real server state, not "pending".
  await row.locator('.badge').filter({ hasText: /^(UP|no check)/ }).waitFor({ timeout: 15_000 });
  await page.locator('#changes li', { hasText: node }).filter({ hasText: '+' }).waitFor({ timeout: 15_000 });
  assert.match((await page.locator('article[data-cluster="web"] .meta').textContent()) ?? '', /^2 members/);

  const screenshot = join(dir.path, 'dashboard.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok((await stat(screenshot)).size > 10_000, 'a real screenshot was written');
  if (process.env.LIGHTHOUSE_SCREENSHOT) await copyFile(screenshot, process.env.LIGHTHOUSE_SCREENSHOT);

  await client.remove(path, -1);
  await row.waitFor({ state: 'detached', timeout: 15_000 });
  await page.locator('#changes li', { hasText: node }).filter({ hasText: '\u2212' }).waitFor({ timeout: 15_000 });
  assert.match((await page.locator('article[data-cluster="web"] .meta').textContent()) ?? '', /^1 member /);
  await page.close();
});
