import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../support/ports.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { writeConfig, zookeeperYaml } from '../support/daemon-config.js';
import { startDaemon } from '../support/daemon-process.js';

/**
 * A daemon whose --metrics-port another process already listens on cannot
 * start. It used to log "uncaught exception (the daemon keeps running)" and
 * then exit 0, so a supervisor restarting on failure saw a clean stop and
 * left the host without its reporter. Now: one line naming --metrics-port
 * (LH_LISTEN_FAILED) and exit status 1.
 */

let dir: TempDir;
let squatter: Server;
let port: number;

before(async () => {
  dir = await tempDir('lighthouse-metrics-taken-');
  port = await freePort();
  squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  // Nothing needs to be reachable: the daemons fail before they connect anywhere.
  await writeConfig(dir.path, {
    'logging.yaml': 'level: info\nformat: json\n',
    'discovery/zookeeper.yaml': zookeeperYaml(['127.0.0.1:1'], '/lighthouse/metrics-taken'),
    'services/web.yaml': 'discovery: zookeeper\nport: 1\nchecks:\n  interval: 1\n  tcp: { rise: 1, fall: 1 }\n',
  });
});

after(async () => {
  await new Promise<void>((resolve) => squatter.close(() => resolve()));
  await dir.remove();
});

for (const command of ['reporter', 'writer'] as const) {
  test(`${command}: metrics port taken at start -> LH_LISTEN_FAILED naming --metrics-port, exit 1`, { timeout: 60_000 }, async () => {
    const logFile = join(dir.path, `${command}.log`);
    const daemon = startDaemon(command, dir.path, logFile, ['--metrics-port', String(port), '--metrics-address', '127.0.0.1', '--state-dir', join(dir.path, `state-${command}`)]);
    const timer = setTimeout(() => daemon.signal('SIGKILL'), 45_000);
    const code = await daemon.exited;
    clearTimeout(timer);
    const log = await readFile(logFile, 'utf8');
    assert.equal(code, 1, `exit status (log: ${log.slice(0, 600)})`);
    assert.match(log, /"code":"LH_LISTEN_FAILED"/);
    assert.match(log, /--metrics-port: cannot serve \/metrics on 127\.0\.0\.1:\d+: another process listens there/);
    assert.doesNotMatch(log, /keeps running/);
  });
}
