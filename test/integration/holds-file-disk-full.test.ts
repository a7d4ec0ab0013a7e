import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Registry } from 'prom-client';
import { HoldKeeper } from '../../src/writer/hold-keeper.js';
import { readHolds } from '../../src/writer/holds-file.js';
import type { ClusterState } from '../../src/writer/cluster-state.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import type { Logger } from '../../src/lib/logger.js';
import { MOUNT_SKIP, smallFs, type SmallFs } from '../support/small-fs.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The holds file on a disk that fills, is freed, and fills again: each time
 * it starts failing the writer says so (status then shows a stale picture),
 * and says when it is written again, as the member cache does.
 */
let fs: SmallFs;

before(async () => {
  if (!MOUNT_SKIP) fs = await smallFs(512);
});

after(async () => {
  await fs?.remove();
});

const node = (port: number): ClusterNode => ({ host: `n${port}.test`, ip: '127.0.0.1', port, metadata: {}, peer: null });

function held(count: number): ClusterState {
  const members = Array.from({ length: count }, (_, index) => node(9000 + index));
  return { cluster: 'web', members, rejected: [], listed: 0, held: members, hold: { listed: 0, reference: 5, floor: 3, since: Date.now() }, revision: 1, updatedAt: Date.now() };
}

test('holds file: a failing write is warned about at every change from written to failing, and its recovery is logged', { skip: MOUNT_SKIP }, async () => {
  const lines: { level: string; msg: string }[] = [];
  const record = (level: string) => (_fields: unknown, msg?: string) => lines.push({ level, msg: msg ?? String(_fields) });
  const logger = { warn: record('warn'), info: record('info'), error: record('error'), debug: record('debug') } as unknown as Logger;
  const registry = new Registry();
  const keeper = new HoldKeeper({
    configDir: '/etc/lighthouse/writer',
    stateDir: fs.path,
    logger,
    heldMembers: new Gauge({ name: 'held', help: 'h', labelNames: ['cluster'], registers: [registry] }),
    holdsStarted: new Counter({ name: 'started', help: 's', labelNames: ['cluster'], registers: [registry] }),
    release: () => undefined,
    dropHeld: () => undefined,
    probeHeld: () => false,
  });
  const failures = () => lines.filter((line) => line.level === 'warn' && /cannot write the holds file/.test(line.msg)).length;
  try {
    await fs.fill();
    keeper.observe('web', held(5));
    await waitFor(() => failures() === 1, 'the first failure to be warned about');

    await fs.free();
    keeper.observe('web', held(4));
    await waitFor(async () => (await readHolds(fs.path)).web?.held.length === 4, 'the holds file written again');
    assert.ok(lines.some((line) => line.level === 'info' && /holds file .*written again/.test(line.msg)), 'the recovery is logged');

    await fs.fill();
    keeper.observe('web', held(3));
    await waitFor(() => failures() === 2, 'the second failure (after a recovery) to be warned about too');
  } finally {
    await keeper.close();
    await fs.free();
  }
});
