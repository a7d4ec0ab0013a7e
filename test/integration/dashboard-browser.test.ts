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
 * listed and their reasons. `web` has no HAProxy checks (its servers are
 * `no check`: shown as unknown, never green); `api` has them, so a backend
 * that stops answering turns DOWN with HAProxy's own words for why. The
 * page links HAProxy's stats page (the balancer file has a `stats:`
 * listener), shows each frontend, filters by cluster name and draws each
 * cluster's history (sampled every second here). A screenshot is saved in
 * the test's temp folder (and copied to $LIGHTHOUSE_SCREENSHOT when set, to
 * look at it after the run).
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
let webFrontend: number;
let statsPort: number;
/** ISO 8601 with the zone's offset, as the page shows times */
const LOCAL_ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/;

before(async () => {
  assert.ok(existsSync(MAIN), `${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (Debian package chromium; npm test installs it)`);
  zk = await ZookeeperCluster.start();
  client = await connectClient(zk.connectString);
  dir = await tempDir('lighthouse-dashboard-');
  backends = await startHttpBackends('app', 3);
  const [webPort, apiPort, metricsPort, stats] = await freePorts(4);
  dashboardPort = metricsPort!;
  webFrontend = webPort!;
  statsPort = stats!;
  const config = join(dir.path, 'config');
  const files: Record<string, unknown> = {
    'discovery/zookeeper.yaml': { hosts: zk.hosts, path: BASE },
    'balancers/haproxy.yaml': { ...haproxySettings(dir.path), stats: { port: statsPort } },
    'clusters/web.yaml': { discovery: 'zookeeper', haproxy: { port: webPort } },
    'clusters/api.yaml': { discovery: 'zookeeper', haproxy: { port: apiPort, server_options: 'check inter 300 fall 1 rise 1' } },
    // A valid cluster name that is also a property of every JS object; no port: a backend only.
    'clusters/constructor.yaml': { discovery: 'zookeeper' },
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(config, path, '..'), { recursive: true });
    await writeFile(join(config, path), stringify(content));
  }
  writer = spawn(process.execPath, [MAIN, 'writer', config, '--metrics-port', String(dashboardPort), '--history-interval', '1'], { stdio: 'ignore' });
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

  assert.equal(await page.locator('article[data-cluster="constructor"] .frontend').textContent(), 'no frontend (backend only)');

  const node = `web-2.test:${backends[2]!.port}`;
  const row = page.locator(`article[data-cluster="web"] tr[data-node="${node}"]`);
  assert.equal(await row.count(), 0, 'not on the page before it is registered');

  const path = await writeOriginalNode(client, BASE, 'web', { host: 'web-2.test', ip: '127.0.0.1', port: backends[2]!.port });
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  // HAProxy's own view arrives with the runtime API change: a real server state, not "pending".
  // web's servers have no HAProxy check: routed, but their health is unknown, not green.
  // (Before HAProxy lists it, it is unknown too: "not in HAProxy yet".)
  await row.locator('.badge[title^="no check: "]').waitFor({ timeout: 15_000 });
  assert.equal(await row.locator('.badge').textContent(), 'unknown');
  assert.equal(await row.getAttribute('data-health'), 'unknown');
  assert.match((await row.locator('.badge').getAttribute('title')) ?? '', /^no check: unknown: HAProxy routes to it without checking it/);
  assert.match((await row.locator('.tag.weight').textContent()) ?? '', /^w\d+$/, 'the weight HAProxy applies');
  assert.equal(await row.locator('.tag.backup').count(), 0, 'an active server');
  const badgeColour = await row.locator('.badge').evaluate((badge) => badge.ownerDocument.defaultView?.getComputedStyle(badge).backgroundColor);
  assert.notEqual(badgeColour, 'rgb(31, 157, 85)', 'an unchecked server is not painted green');
  const added = page.locator('#changes li', { hasText: node }).filter({ hasText: '+ added' });
  await added.waitFor({ timeout: 15_000 });
  assert.match((await added.locator('.reason').textContent()) ?? '', /registered: discovery lists it/);
  assert.match((await added.locator('time').textContent()) ?? '', LOCAL_ISO);
  assert.match((await page.locator('article[data-cluster="web"] .meta').textContent()) ?? '', new RegExp(`^frontend 127\\.0\\.0\\.1:${webFrontend} · 2 members`));

  const screenshot = join(dir.path, 'dashboard.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok((await stat(screenshot)).size > 10_000, 'a real screenshot was written');
  if (process.env.LIGHTHOUSE_SCREENSHOT) await copyFile(screenshot, process.env.LIGHTHOUSE_SCREENSHOT);

  await client.remove(path, -1);
  await row.waitFor({ state: 'detached', timeout: 15_000 });
  const removed = page.locator('#changes li', { hasText: node }).filter({ hasText: '\u2212 removed' });
  await removed.waitFor({ timeout: 15_000 });
  assert.match((await removed.locator('.reason').textContent()) ?? '', /^left discovery .*the writer cannot tell which$/);
  assert.match((await page.locator('article[data-cluster="web"] .meta').textContent()) ?? '', / · 1 member · /);
  await page.close();
});

test('dashboard: HAProxy stats link, health from HAProxy checks with their reason, filter and history chart, in a real browser', { timeout: 90_000 }, async () => {
  const page = await context!.newPage();
  await waitFor(async () => (await fetch(`http://127.0.0.1:${dashboardPort}/healthz`)).ok, 'the writer to finish its initial sync', 30_000, 100);
  await page.goto(`http://127.0.0.1:${dashboardPort}/`);
  await page.locator('#ready').filter({ hasText: 'in sync' }).waitFor({ timeout: 15_000 });

  // The link leads to HAProxy's real stats page, at the web backend's anchor.
  const link = page.locator('article[data-cluster="web"] a.stats-link');
  await link.waitFor({ timeout: 15_000 });
  const href = (await link.getAttribute('href')) ?? '';
  assert.equal(href, `http://127.0.0.1:${statsPort}/#web`);
  const statsPage = await fetch(href);
  assert.equal(statsPage.status, 200);
  assert.match(await statsPage.text(), /Statistics Report/);
  assert.equal(await page.locator('header a.stats-link').getAttribute('href'), `http://127.0.0.1:${statsPort}/`);

  // api's server is checked by HAProxy: UP while its backend answers...
  const apiNode = `api-1.test:${backends[1]!.port}`;
  const apiRow = page.locator(`article[data-cluster="api"] tr[data-node="${apiNode}"]`);
  await apiRow.locator('.badge').filter({ hasText: /^UP/ }).waitFor({ timeout: 15_000 });
  // ...and its history gets points while requests go through web's frontend.
  for (let index = 0; index < 5; index += 1) await fetch(`http://127.0.0.1:${webFrontend}/`).then((answer) => answer.text());
  await waitFor(async () => Number(await page.locator('article[data-cluster="web"] svg.history').getAttribute('data-points')) >= 3, 'the web chart to have 3 points', 30_000, 200);
  assert.equal(await page.locator('article[data-cluster="web"] svg.history polyline.members').count(), 1);
  await waitFor(async () => /[1-9]\d* requests/.test((await page.locator('article[data-cluster="web"] .legend').textContent()) ?? ''), 'the requests sent to show in the chart', 30_000, 200);

  // DOWN once the backend stops answering, with HAProxy's check result as the reason.
  await backends[1]!.close();
  await apiRow.filter({ has: page.locator('.badge.down') }).waitFor({ timeout: 20_000 });
  const health = page.locator('#changes li[data-change="health"]', { hasText: apiNode });
  await health.waitFor({ timeout: 20_000 });
  assert.match((await health.locator('.reason').textContent()) ?? '', /UP → DOWN: its health check failed \(L4CON/);

  // The filter keeps only clusters whose name contains the text, and their changes.
  await page.locator('#filter').fill('AP');
  await page.locator('article[data-cluster="web"]').waitFor({ state: 'detached', timeout: 5_000 });
  assert.equal(await page.locator('article[data-cluster="api"]').count(), 1);
  assert.equal(await page.locator('#changes li .tag', { hasText: 'web' }).count(), 0, 'changes of other clusters are filtered out');
  assert.match((await page.locator('#shown').textContent()) ?? '', /^1 of 3 clusters$/);
  assert.match(page.url(), /#filter=AP$/);
  await page.reload();
  assert.equal(await page.locator('#filter').inputValue(), 'AP', 'the filter survives a reload (it is in the address)');
  await page.locator('article[data-cluster="api"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('article[data-cluster="web"]').count(), 0);
  await page.locator('#filter').fill('');
  await page.locator('article[data-cluster="web"]').waitFor({ timeout: 5_000 });

  const screenshot = join(dir.path, 'dashboard-history.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  if (process.env.LIGHTHOUSE_SCREENSHOT) await copyFile(screenshot, process.env.LIGHTHOUSE_SCREENSHOT.replace(/(\.png)?$/, '-history.png'));
  await page.close();
});
