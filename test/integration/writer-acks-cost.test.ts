import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { machineId } from '../../src/lib/machine-id.js';
import { ackRecordName, decodeAck } from '../../src/discovery/ack-record.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { BASE, startWriterStack, type WriterStack } from '../support/writer-stack.js';
import { writeOriginalNode } from '../support/zookeeper.js';

/**
 * What acknowledgements cost the ensemble, measured on a real ZooKeeper and
 * HAProxy with an in-process writer: the record znode's own data version
 * counts its writes. One change at a time: one write each; a burst of
 * changes within a second: at most two (one right away, one for the rest).
 */

let stack: WriterStack;
let record: string;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function recordState(): Promise<{ writes: number; version: string | null | undefined }> {
  const { data, stat } = await stack.admin.getData(record);
  const decoded = decodeAck(data.toString('utf8'));
  // setData bumps the data version; the create was write number 1.
  return { writes: stat.version + 1, version: decoded.ok ? decoded.ack.clusters.web?.version : undefined };
}

async function zkVersion(): Promise<string> {
  const folder = `${BASE}/web`;
  const { children, stat } = await stack.admin.getChildren(folder);
  let version = stat.pzxid.readBigInt64BE(0);
  for (const child of children) {
    const mzxid = (await stack.admin.getData(`${folder}/${child}`)).stat.mzxid.readBigInt64BE(0);
    if (mzxid > version) version = mzxid;
  }
  return version.toString();
}

async function acknowledged(): Promise<void> {
  const expected = await zkVersion();
  await waitFor(async () => (await recordState().catch(() => undefined))?.version === expected, `the record to acknowledge ${expected}`, 15_000);
}

const add = (port: number) => writeOriginalNode(stack.admin, BASE, 'web', { host: `n${port}.test`, ip: '127.0.0.1', port });

before(async () => {
  const [webPort] = await freePorts(1);
  stack = await startWriterStack({ clusters: ['web'], files: { 'clusters/web.yaml': `discovery: zookeeper\nhaproxy:\n  port: ${webPort}\n` } });
  record = `/lighthouse/writer-acks/${ackRecordName(hostname(), resolve(join(stack.dir.path, '.state')), 'zookeeper', machineId())}`;
  for (let port = 20_001; port <= 20_004; port += 1) await add(port);
  await acknowledged();
});

after(async () => {
  await stack?.close();
});

test('acknowledgement writes per change per writer: one per change, at most two per burst', async (t) => {
  await sleep(1_200);
  const start = (await recordState()).writes;
  const singles = 5;
  for (let index = 0; index < singles; index += 1) {
    await add(21_000 + index);
    await acknowledged();
    await sleep(1_200);
  }
  const afterSingles = (await recordState()).writes;
  const burst = 20;
  await Promise.all(Array.from({ length: burst }, (_, index) => add(22_000 + index)));
  await acknowledged();
  await sleep(1_500);
  const afterBurst = (await recordState()).writes;
  const perChange = (afterSingles - start) / singles;
  const line = `acknowledgement writes: ${afterSingles - start} for ${singles} single changes (${perChange} per change per writer); ${afterBurst - afterSingles} for a burst of ${burst} changes`;
  t.diagnostic(line);
  assert.equal(perChange, 1);
  assert.ok(afterBurst - afterSingles <= 2, line);
});
