import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import { LONG, LoadGenerator, recordResult } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';
import { seededRandom } from '../support/random.js';
import { atLeast } from '../support/strict-json.js';

/**
 * Chaos 8: 1,000 hostile node payloads (10,000 with CHAOS_LONG=1) written
 * into the folder of a cluster that is being served under load. None of
 * them may reach HAProxy (the config file stays byte for byte the same), the
 * writer must not crash, and the good members keep being routed.
 */

const COUNT = LONG ? 10_000 : 1_000;


const py = (value: string): string => JSON.stringify(value);

/** Valid in every respect but the fields given: each generator below breaks exactly what it names. */
function node(fields: Record<string, string>): Buffer {
  const all: Record<string, string> = { host: py('evil.test'), ip: py('127.0.0.1'), metadata: py('{}'), peer: py('{"ip": "127.0.0.1", "name": "evil.test", "port": 1024}'), port: '20000', ...fields };
  return Buffer.from(`{${Object.entries(all).map(([key, value]) => `"${key}": ${value}`).join(', ')}}`, 'utf8');
}

const deep = (depth: number, open: string, close: string, inner = '1'): string => `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

/**
 * Hostile payloads: the kinds the spec names (wrong types, newlines, spaces
 * and `#` in host or ip, ports out of range, huge strings, deep JSON,
 * non-UTF-8) plus a valid node claiming a good member's host:port.
 */
function hostilePayloads(count: number, goodKey: string): { name: string; data: Buffer; kind: string }[] {
  const rand = seededRandom(8);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const [goodHost, goodPort] = [goodKey.slice(0, goodKey.lastIndexOf(':')), goodKey.slice(goodKey.lastIndexOf(':') + 1)];
  const kinds: [string, () => Buffer][] = [
    ['not JSON', () => Buffer.from(pick(['', '{', 'host=evil', '{"host": "evil.test",', 'null null', '\u0000\u0001']), 'utf8')],
    ['JSON not an object', () => Buffer.from(pick(['[]', '1', '"str"', 'null', 'true', '[{"host": "evil.test"}]']), 'utf8')],
    ['wrong types', () => node(pick<Record<string, string>>([{ host: '123' }, { ip: '2130706433' }, { ip: '["127.0.0.1"]' }, { metadata: '5' }, { metadata: py('[1, 2]') }, { peer: '7' }, { peer: py('[]') }, { host: '{}' }]))],
    ['line break, space or # in host', () => node({ host: py(pick(['evil.test\n    server x 6.6.6.6:80', 'evil.test #', 'evil test', 'evil.test\r\nbind :1', '#evil', 'evil.test\tcheck', ' evil.test'])) })],
    ['line break, space or # in ip', () => node({ ip: py(pick(['127.0.0.1\n', '127.0.0.1 check', '127.0.0.1#', ' 127.0.0.1', '127.0.0.1\n    bind :1', '999.1.1.1', '127.0.0.1:80', '::1'])) })],
    ['hostile peer', () => node({ peer: py(pick(['{"ip": "127.0.0.1", "name": "evil\\n    peer x 6.6.6.6:1", "port": 1024}', '{"ip": "127.0.0.1 x", "name": "evil.test", "port": 1024}', '{"ip": "127.0.0.1", "name": "evil.test", "port": 70000}', '{"name": "evil.test"}'])) })],
    ['port out of range', () => node({ port: pick(['0', '-1', '65536', '80.5', '"80"', '1e20', 'null', 'true', '[80]']) })],
    ['huge string', () => (rand() < 0.5 ? node({ host: py(`${'a'.repeat(60_000)}.test`) }) : node({ metadata: py(JSON.stringify({ blob: 'x'.repeat(100_000) })) }))],
    ['deep JSON', () => (rand() < 0.3 ? Buffer.from(deep(50_000, '[', ']'), 'utf8') : rand() < 0.5 ? node({ metadata: py(deep(40, '{"a": ', '}', '{}')) }) : node({ port: '0', extra: deep(20_000, '{"a": ', '}', '{}') }))],
    ['non-UTF-8', () => Buffer.concat([Buffer.from('{"host": "evil', 'utf8'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('.test", "ip": "127.0.0.1", "metadata": "{}", "peer": null, "port": 20000}', 'utf8')])],
    ['duplicate of a good member', () => node({ host: py(goodHost), port: goodPort })],
  ];
  const names = ['hostile-%.test:20000', 'bad name %', '#%', 'évil-%', 'x:%:y'];
  return Array.from({ length: count }, (_, index) => {
    const [kind, make] = kinds[index % kinds.length]!;
    return { name: `${pick(names).replace('%', String(index))}-${index}`, data: make(), kind };
  });
}

let stack: ChaosStack;

before(async () => {
  stack = await ChaosStack.start({ reporters: [1, 2] });
});

after(async () => {
  await stack?.stop();
});

test(`chaos 8: ${COUNT} hostile znodes change nothing in HAProxy; good members keep being routed`, { timeout: LONG ? 600_000 : 120_000 }, async (t) => {
  const config = await stack.haproxyConfig();
  const routed = await stack.routed();
  const payloads = hostilePayloads(COUNT, routed[0]!);
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');

  const writtenAt = performance.now();
  const rejectedNames = (): Set<string> => new Set(stack.writer.lines.filter((line) => line.code === 'LH_NODE_INVALID').map((line) => String(line.znode)));
  // Rounds of 1,000, each removed before the next: the test ZooKeeper has a 128 MB heap, and the long
  // variant's 10,000 payloads (a tenth of them 60-200 KB) would not fit in it at once.
  for (let round = 0; round < payloads.length; round += 1_000) {
    const paths: string[] = [];
    for (let start = round; start < Math.min(round + 1_000, payloads.length); start += 100) {
      // Pipelined in batches: one session's requests are applied in order, and 100 in flight is plenty.
      const batch = payloads.slice(start, start + 100);
      await Promise.all(batch.map(async (payload) => {
        const path = `${stack.servicePath}/${payload.name}`;
        await stack.admin.create(path, payload.data, OPEN_ACL, false);
        paths.push(path);
      }));
    }
    // Every hostile znode was read and rejected (logged once each, naming it).
    await waitFor(() => paths.every((path) => rejectedNames().has(path)), `the writer to reject all of round ${round / 1_000 + 1} (so far ${rejectedNames().size} in all)`, 60_000, 50).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${stack.writer.tail(20)}`);
    });
    assert.equal(await stack.haproxyConfig(), config, 'the HAProxy config is byte for byte the same');
    assert.deepEqual(await stack.routed(), routed, 'HAProxy routes the same members');
    assert.ok(stack.writer.alive, 'the writer did not crash');
    // Removing them changes nothing either.
    await Promise.all(paths.map((path) => stack.admin.remove(path, -1)));
  }
  const processedMs = performance.now() - writtenAt;
  assert.equal(stack.writer.lines.filter((line) => atLeast(line, 'fatal')).length, 0, 'nothing fatal logged');
  const kinds = new Set(payloads.map((payload) => payload.kind));
  t.diagnostic(`kinds: ${[...kinds].join(', ')}`);

  // A real change still goes through afterwards.
  stack.reporters[1]!.backends[0]!.healthy = false;
  await stack.waitConverged();
  const report = await load.stop();
  const lost = await stack.lost();
  recordResult({ scenario: `8 ${COUNT} hostile znodes`, requests: report.sent, failed: report.failed, lost, recoveryMs: undefined, note: `written, read, rejected and removed in ${Math.round(processedMs)} ms` }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(lost, 0);
});
