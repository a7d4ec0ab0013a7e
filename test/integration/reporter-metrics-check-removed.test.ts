import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { ZookeeperCluster } from '../support/zookeeper.js';
import { freePort } from '../support/ports.js';

async function metrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

function checkUpLines(text: string): string[] {
  return text.split('\n').filter((line) => line.startsWith('lighthouse_check_up{'));
}

/**
 * lighthouse_check_up{service,port,check}: a check taken out of a service
 * file (the port stays) kept its last series, a `1` for a check that no
 * longer runs, on every scrape until the reporter restarted.
 */
describe('reporter metrics: a check removed from a service takes its lighthouse_check_up series along', () => {
  let zk: ZookeeperCluster;
  let dir: TempDir;
  let daemon: DaemonProcess;
  let server: Server;
  let port: number;
  let metricsPort: number;
  const service = (checks: string) => `discovery: zookeeper\nport: ${port}\nhost: 127.0.0.1\nchecks:\n  interval: 0.2\n${checks}`;

  before(async () => {
    zk = await ZookeeperCluster.start();
    dir = await tempDir();
    server = createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    metricsPort = await freePort();
    await writeConfig(dir.path, {
      'discovery/zookeeper.yaml': zookeeperYaml(zk.hosts, '/lighthouse/services'),
      'services/web.yaml': service('  http:\n    uri: /health\n    rise: 1\n    fall: 1\n  tcp:\n    rise: 1\n    fall: 1\n'),
      'logging.yaml': 'level: info\nformat: json\n',
    });
    daemon = startDaemon('reporter', dir.path, join(dir.path, 'reporter.log'), ['--metrics-port', String(metricsPort)]);
  });

  after(async () => {
    await daemon?.stop();
    server?.close();
    await zk?.stop();
    await dir?.remove();
  });

  it('after the http check is taken out, only the tcp series is left', async () => {
    await waitFor(async () => {
      const lines = checkUpLines(await metrics(metricsPort).catch(() => ''));
      return lines.some((line) => line.includes('check="http"') && line.endsWith(' 1')) && lines.some((line) => line.includes('check="tcp"') && line.endsWith(' 1'));
    }, 'both checks to be up in the metrics', 30_000, 200);
    await writeFile(join(dir.path, 'services/web.yaml'), service('  tcp:\n    rise: 1\n    fall: 1\n'));
    await waitFor(async () => !checkUpLines(await metrics(metricsPort)).some((line) => line.includes('check="http"')), 'the http series to go', 20_000, 200);
    const lines = checkUpLines(await metrics(metricsPort));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(`port="${port}".*check="tcp".* 1$|check="tcp".*port="${port}".* 1$`), lines[0]);
  });
});
