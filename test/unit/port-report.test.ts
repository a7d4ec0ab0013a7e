import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortReports } from '../../src/reporter/port-report.js';
import { SyncRecorder, readSyncRecord } from '../../src/writer/sync-file.js';
import { silentLogger } from '../../src/lib/logger.js';
import { tempDir } from '../support/temp-dir.js';
import { join } from 'node:path';
import type { ServiceStatus } from '../../src/reporter/runner-status.js';

const event = (passed: boolean, detail: string, at: number) => ({ service: 'web', port: 80, check: 'tcp', passed, detail, durationMs: 1, at, up: passed });

test('a repeated check result is not a change; a new result or output is, and its since is when it was first seen', () => {
  const reports = new PortReports();
  assert.equal(reports.changed(event(false, 'refused', 1000)), true);
  assert.equal(reports.changed(event(false, 'refused', 2000)), false, 'the same result again');
  assert.equal(reports.changed(event(false, 'timed out', 3000)), true, 'another output');
  const status: ServiceStatus = {
    service: 'web',
    discovery: 'zk',
    phase: 'running',
    ports: [{ port: 80, up: false, registered: false, drained: null, node: 'h:80', lastError: null, conflict: null, checks: [{ kind: 'tcp', up: false, passes: 0, fails: 3, rise: 1, fall: 1, running: false, last: { passed: false, detail: 'timed out', durationMs: 1, at: 4000 } }] }],
  };
  const [port] = reports.report([status]);
  assert.deepEqual(port!.checks, [{ kind: 'tcp', up: false, passed: false, detail: 'timed out', since: new Date(3000).toISOString() }]);
  reports.forget('web');
  assert.equal(reports.report([status])[0]!.checks[0]!.since, null);
});

test('the writer\'s sync record: written at once on the first sync and when syncs start failing, kept on close', async () => {
  const dir = await tempDir();
  const path = join(dir.path, 'state', 'writer-sync.json');
  const recorder = new SyncRecorder(path, silentLogger(), 60_000);
  recorder.synced(Date.parse('2026-11-29T10:00:00.000Z'));
  await recorder.close();
  assert.equal((await readSyncRecord(path))?.lastSync, '2026-11-29T10:00:00.000Z');
  const second = new SyncRecorder(path, silentLogger(), 60_000);
  second.synced(Date.parse('2026-11-29T10:00:01.000Z'));
  second.failed(new Error('reload refused'), Date.parse('2026-11-29T10:00:02.000Z'));
  await second.close();
  const record = await readSyncRecord(path);
  assert.deepEqual([record?.lastSync, record?.failingSince, record?.error], ['2026-11-29T10:00:01.000Z', '2026-11-29T10:00:02.000Z', 'reload refused']);
  await dir.remove();
});
