import { after, before, describe, it } from 'node:test';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster, connectClient } from '../support/zookeeper.js';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli } from '../support/cli.js';
import { MOUNT_SKIP, smallFs, type SmallFs } from '../support/small-fs.js';

/**
 * reporter-state.json, which `lighthouse status` shows each port's checks
 * from, is written when something changes. A write that failed (the disk
 * full) was not tried again: once the disk had room, status kept showing the
 * state before the failure (a check passing that had failed since) for as
 * long as nothing else changed, as if it were current.
 */
describe('reporter state file: a write that failed on a full disk is made once there is room', { skip: MOUNT_SKIP }, () => {
  let zk: ZookeeperCluster;
  let dir: TempDir;
  let fs: SmallFs;
  let daemon: DaemonProcess;
  let server: Server;
  let port: number;

  before(async () => {
    zk = await ZookeeperCluster.start();
    dir = await tempDir();
    fs = await smallFs(1024);
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, '/lighthouse/services'),
      'services/web.yaml': `discovery: zookeeper\nport: ${port}\nhost: 127.0.0.1\nchecks:\n  interval: 0.2\n  tcp:\n    rise: 1\n    fall: 1\n`,
      'logging.yaml': 'level: info\nformat: json\n',
    });
    daemon = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'), ['--state-dir', fs.path]);
  });

  after(async () => {
    await daemon?.stop();
    server?.close();
    await fs?.free();
    await fs?.remove();
    await zk?.stop();
    await dir?.remove();
  });

  const status = async (): Promise<string> => (await runCli('status', dir.path, '--state-dir', fs.path)).stdout;

  it('status shows the check failing once the disk has room again, with nothing else changing', async () => {
    await waitFor(async () => /web[\s\S]*registered|REGISTERED/.test(await status()) && !(await status()).includes('FAILS'), 'status to show the port registered, its check passing', 30_000, 300);
    await fs.fill();
    server.close();
    // Filled again while waiting: a file replaced in the meantime gives its pages back.
    await waitFor(
      async () => {
        await fs.fill();
        return /reporter-state\.json: cannot write/.test(await readFile(join(dir.path, 'reporter.log'), 'utf8'));
      },
      'the failed write to be logged',
      20_000,
      200,
    );
    const admin = await connectClient(zk.connectString);
    try {
      await waitFor(async () => (await admin.getChildren('/lighthouse/services/web').catch(() => ({ children: [] as string[] }))).children.length === 0, 'the port to be deregistered', 20_000, 200);
    } finally {
      admin.close();
    }
    // Past the state file's coalescing (250 ms): every change of this episode has been tried, and failed.
    await sleep(2_000);
    const failed = (await readFile(join(dir.path, 'reporter.log'), 'utf8')).match(/reporter-state\.json: cannot write/g)?.length ?? 0;
    await fs.free();
    await waitFor(async () => (await status()).includes(`port ${port}: check tcp FAILS`), `status to show the failing check once the state file can be written (${failed} failed writes logged)`, 30_000, 500);
  });
});
