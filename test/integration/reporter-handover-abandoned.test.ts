import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import { freePorts } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { startToggleService, type ToggleService } from '../support/toggle-service.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';

/**
 * A handover on one ZooKeeper ensemble (the discovery file edited, so a new
 * session) abandoned half-way by a second edit: the first new session has
 * taken over port A's node, port B is still the old session's. The
 * registrations in force must never be missing: not when the abandoned
 * session closes, nor while the next one takes over.
 */

const BASE = '/lighthouse/handover-abandoned';
const HOST = 'abandoned.test';

describe('reporter: a same-ensemble handover abandoned half-way', () => {
  let zk: ZookeeperCluster;
  let admin: ZkClient;
  let dir: TempDir;
  let a: ToggleService;
  let b: ToggleService;
  let reporter: DaemonProcess | undefined;

  const znode = (service: ToggleService) => `${BASE}/web/${HOST}:${service.port}`;
  const owner = async (service: ToggleService) => (await admin.exists(znode(service)))?.ephemeralOwner.toString('hex');
  const zkYaml = (operationTimeoutMs: number) => zookeeperYaml(zk.hosts, BASE, `operation_timeout_ms: ${operationTimeoutMs}\nadvertise:\n  host: ${HOST}\n  ip: 127.0.0.1\n`);
  const log = () => readFile(join(dir.path, 'reporter.log'), 'utf8').catch(() => '');

  before(async () => {
    zk = await ZookeeperCluster.start();
    admin = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-handover-abandoned-');
    const ports = await freePorts(2);
    a = await startToggleService(ports[0]!);
    b = await startToggleService(ports[1]!);
    await writeConfig(dir.path, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': zkYaml(5000),
      // fall 40 with a 0.5 s timeout: a hanging B stays registered on the old session for ~20 s, and the new one cannot register it.
      'services/web.yaml': `discovery: zookeeper\nports: [${a.port}, ${b.port}]\nchecks:\n  interval: 0.3\n  http:\n    uri: /health\n    rise: 1\n    fall: 40\n    timeout: 0.5\n`,
    });
  });

  after(async () => {
    await reporter?.stop();
    await admin?.close();
    await zk?.stop();
    await a?.close();
    await b?.close();
    await dir?.remove();
  });

  test('the node the abandoned session took over is never missing', { timeout: 120_000 }, async () => {
    reporter = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'));
    const first = await waitFor(async () => {
      const [ownerA, ownerB] = [await owner(a), await owner(b)];
      return ownerA && ownerA === ownerB ? ownerA : undefined;
    }, 'both ports registered on one session', 30_000);

    b.hang = true;
    await writeFile(join(dir.path, 'discovery', 'zookeeper.yaml'), zkYaml(5001));
    const second = await waitFor(async () => {
      const current = await owner(a);
      return current && current !== first ? current : undefined;
    }, 'the new session to take port A over', 30_000);
    assert.equal(await owner(b), first, 'B stays on the old session (the new one cannot pass its check)');

    // Every 10 ms from now on: is A's node there?
    const gaps: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if ((await owner(a)) === undefined) gaps.push(new Date().toISOString());
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      await writeFile(join(dir.path, 'discovery', 'zookeeper.yaml'), zkYaml(5002));
      await waitFor(async () => /handover to .* is abandoned/.test(await log()), 'the first handover to be abandoned', 30_000);
      const third = await waitFor(async () => {
        const current = await owner(a);
        return current && current !== first && current !== second ? current : undefined;
      }, 'the newest session to take port A over', 30_000);
      b.hang = false;
      await waitFor(async () => (await owner(b)) === third, 'B on the newest session once it passes', 30_000);
      await waitFor(async () => /handover to .* finished/.test(await log()), 'the handover to finish', 30_000);
    } finally {
      sampling = false;
      await sampler;
    }
    assert.deepEqual(gaps, [], `port A's registration was missing at ${gaps.length} samples`);
  });
});
