import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { stringify } from 'yaml';
import { ZookeeperCluster } from '../support/zookeeper.js';
import { startHttpBackend, type HttpBackend } from '../support/http-backends.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { BUILT_CLI, runCli } from '../support/cli.js';

/**
 * The reporter's page on its --metrics-port, in a real browser (Debian's
 * headless Chromium via playwright-core), against a real ZooKeeper: a
 * service with one answering port (registered) and one refusing port (not
 * registered, with the check's own output saying why), then an operator's
 * drain of the first port, shown with its reason on the port and in the
 * drains table, then node-wide maintenance.
 */

const CHROMIUM = '/usr/bin/chromium';
const HOST = 'node-1.lighthouse.test';
/** ISO 8601 with the zone's offset, as the page shows times */
const LOCAL_ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/;

let zk: ZookeeperCluster;
let dir: TempDir;
let backend: HttpBackend;
let refusing: number;
let pagePort: number;
let reporter: ChildProcess | undefined;
let context: BrowserContext | undefined;
const configDir = () => join(dir.path, 'config');

before(async () => {
  assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (Debian package chromium; npm test installs it)`);
  zk = await ZookeeperCluster.start();
  dir = await tempDir('lighthouse-reporter-page-');
  backend = await startHttpBackend('web');
  const [closed, metrics] = await freePorts(2);
  refusing = closed!;
  pagePort = metrics!;
  const files: Record<string, unknown> = {
    'discovery/zookeeper.yaml': { hosts: zk.hosts, path: '/lighthouse/services', advertise: { host: HOST, ip: '127.0.0.1' } },
    'services/web.yaml': { discovery: 'zookeeper', ports: [backend.port, refusing], checks: { interval: 0.2, http: { uri: '/health', rise: 1, fall: 1 } } },
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(configDir(), path, '..'), { recursive: true });
    await writeFile(join(configDir(), path), stringify(content));
  }
  reporter = spawn(process.execPath, [BUILT_CLI, 'reporter', configDir(), '--metrics-port', String(pagePort)], { stdio: 'ignore' });
  context = await chromium.launchPersistentContext(join(dir.path, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  if (reporter && reporter.exitCode === null) {
    const exited = new Promise<void>((resolve) => reporter!.once('exit', () => resolve()));
    reporter.kill('SIGTERM');
    await exited;
  }
  await backend.close();
  await zk.stop();
  await dir.remove();
});

test('reporter page: ports, registration and why not, last check output, drains, in a real browser', { timeout: 90_000 }, async () => {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${pagePort}/healthz`).catch(() => undefined))?.ok === true, 'the reporter to serve its page', 30_000, 100);
  const page = await context!.newPage();
  await page.goto(`http://127.0.0.1:${pagePort}/`);
  assert.equal(await page.title(), 'Lighthouse reporter');
  await page.locator('#ready').filter({ hasText: 'running' }).waitFor({ timeout: 15_000 });

  const card = page.locator('article[data-service="web"]');
  const good = card.locator(`tr[data-port="${backend.port}"]`);
  const bad = card.locator(`tr[data-port="${refusing}"]`);
  await good.filter({ has: page.locator('.badge.registered') }).waitFor({ timeout: 20_000 });
  assert.match((await good.textContent()) ?? '', new RegExp(`${HOST}:${backend.port}`));
  assert.match((await good.locator('[data-check="http"]').textContent()) ?? '', /http up · last passed/);
  assert.match((await good.locator('[data-check="http"] time').textContent()) ?? '', LOCAL_ISO);

  // The refusing port is not registered, and the page says why in the check's own words.
  await bad.filter({ has: page.locator('.badge.down') }).waitFor({ timeout: 20_000 });
  assert.match((await bad.locator('[data-check="http"] .detail').textContent()) ?? '', /ECONNREFUSED/);
  assert.equal(await page.locator('#drains .empty').textContent(), 'nothing drained');

  const drained = await runCli('drain', configDir(), 'web', '--port', String(backend.port), '--reason', 'kernel upgrade');
  assert.equal(drained.code, 0, drained.stderr);
  await good.filter({ has: page.locator('.badge.drained') }).waitFor({ timeout: 20_000 });
  assert.match((await good.textContent()) ?? '', /drained: kernel upgrade/);
  const entry = page.locator('#drains tr[data-drain="web"]');
  await entry.waitFor({ timeout: 10_000 });
  assert.match((await entry.textContent()) ?? '', new RegExp(`^web${backend.port}kernel upgrade`));
  assert.match((await entry.locator('time').textContent()) ?? '', LOCAL_ISO);
  // Checks go on while drained.
  assert.match((await good.locator('[data-check="http"]').textContent()) ?? '', /http up/);

  const state = (await (await fetch(`http://127.0.0.1:${pagePort}/api/state`)).json()) as { services: { ports: { port: number; registration: string }[] }[] };
  assert.deepEqual(
    state.services[0]!.ports.map((port) => [port.port, port.registration]),
    [
      [backend.port, 'drained'],
      [refusing, 'down'],
    ].sort((a, b) => (a[0] as number) - (b[0] as number)),
  );

  // Node-wide maintenance drains every port, and the page says so with its reason.
  const on = await runCli('maintenance', configDir(), 'on', '--reason', 'rack move');
  assert.equal(on.code, 0, on.stderr);
  await page.locator('#maintenance', { hasText: 'rack move' }).waitFor({ timeout: 20_000 });
  assert.match((await page.locator('#maintenance time').textContent()) ?? '', LOCAL_ISO);
  await bad.filter({ has: page.locator('.badge.drained') }).waitFor({ timeout: 20_000 });
  assert.match((await bad.textContent()) ?? '', /drained: maintenance: rack move/);

  const screenshot = join(dir.path, 'reporter.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  if (process.env.LIGHTHOUSE_SCREENSHOT) await copyFile(screenshot, process.env.LIGHTHOUSE_SCREENSHOT.replace(/(\.png)?$/, '-reporter.png'));
  await page.close();
});
