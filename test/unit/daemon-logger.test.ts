import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { parseStrictJson } from '../support/strict-json.js';
import { tempDir } from '../support/temp-dir.js';

async function linesOf(write: (log: ReturnType<typeof createDaemonLogger>) => void, overrides = {}): Promise<Record<string, unknown>[]> {
  const dir = await tempDir();
  const file = join(dir.path, 'log.json');
  const log = createDaemonLogger('reporter', { level: 'debug', format: 'json', destination: file }, overrides);
  write(log);
  // The file stream is asynchronous: reconfiguring to stdout ends (flushes) it.
  await new Promise((resolve) => setTimeout(resolve, 50));
  log.reconfigure({ level: 'info', format: 'json', destination: 'stderr' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const text = await readFile(file, 'utf8');
  await dir.remove();
  return text.split('\n').filter(Boolean).map((line) => parseStrictJson(line) as Record<string, unknown>);
}

test('a child rebinding a key its parent has (a plugin, a service runner) writes it once: the parent\'s value', async () => {
  const [line] = await linesOf(({ logger }) => {
    logger.child({ module: 'discovery:zk' }).child({ module: 'zookeeper', discovery: 'zk' }).child({ discovery: 'zk', port: 1 }).info('hello');
  });
  assert.equal(line!.module, 'discovery:zk');
  assert.equal(line!.discovery, 'zk');
});

test('a call\'s field the logger is bound to is written once', async () => {
  const [line] = await linesOf(({ logger }) => logger.child({ service: 'web' }).warn({ service: 'web', daemon: 'x', port: 80 }, 'down'));
  assert.deepEqual([line!.service, line!.daemon, line!.port], ['web', 'reporter', 80]);
});

test('level names and ISO times; an error passed alone still logs its stack', async () => {
  const [first, second] = await linesOf(({ logger }) => {
    logger.info('one');
    logger.error(new Error('boom'), 'two');
  });
  assert.equal(first!.level, 'info');
  assert.match(String(first!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(second!.level, 'error');
  assert.match(JSON.stringify(second!.err), /boom/);
});

test('a level override outlives a reloaded logging.yaml, module levels included', async () => {
  const dir = await tempDir();
  const file = join(dir.path, 'after-reload.json');
  const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: 'stderr' }, { level: 'warn' });
  log.reconfigure({ level: 'debug', modules: { balancer: 'trace' }, format: 'json', destination: file });
  log.logger.info('hidden');
  log.logger.child({ module: 'balancer:haproxy' }).debug('hidden too');
  log.logger.warn('shown');
  await new Promise((resolve) => setTimeout(resolve, 50));
  log.reconfigure({ level: 'info', format: 'json', destination: 'stderr' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((line) => parseStrictJson(line) as Record<string, unknown>);
  await dir.remove();
  assert.deepEqual(lines.map((line) => line.msg), ['shown']);
});
