import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon } from '../support/daemon-process.js';
import { writeConfig } from '../support/daemon-config.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

/**
 * #18.6 on the daemons' side: a discovery file with one typo is reported once,
 * for itself; the clusters and services using it do not claim the file is
 * missing ("no discovery/zookeeper.yaml") although it is there.
 */
for (const role of ['writer', 'reporter'] as const) {
  test(`${role}: a cluster/service on an invalid discovery file does not say the file is missing`, { timeout: 60_000 }, async (t) => {
    const dir = await tempDir(`lighthouse-${role}-discovery-typo-`);
    t.after(() => dir.remove());
    const config = join(dir.path, 'config');
    await writeConfig(config, {
      'logging.yaml': 'level: info\nformat: json\n',
      'discovery/zookeeper.yaml': 'hosts: ["127.0.0.1:1"]\npath: /lighthouse/services\nsesion_timeout_ms: 4000\n',
      ...(role === 'writer'
        ? { 'clusters/web.yaml': 'discovery: zookeeper\n' }
        : { 'services/web.yaml': 'discovery: zookeeper\nport: 9\nchecks:\n  interval: 1\n  tcp: {rise: 1, fall: 1}\n' }),
    });
    const log = join(dir.path, `${role}.log`);
    const daemon = startDaemon(role, config, log);
    t.after(() => daemon.stop().then(() => undefined));
    const text = await waitFor(async () => {
      const current = await readFile(log, 'utf8');
      return /discovery: \\?"zookeeper\\?" is not/.test(current) ? current : undefined;
    }, `the ${role} to log the ${role === 'writer' ? 'cluster' : 'service'} waiting for its discovery`, 30_000);
    assert.match(text, /sesion_timeout_ms \(line 3\): unknown setting \(did you mean \\"session_timeout_ms\\"\?\)/);
    assert.doesNotMatch(text, /no discovery\/zookeeper\.yaml/);
    assert.match(text, /is not in force \(discovery\/zookeeper\.yaml is missing, or invalid/);
  });
}
