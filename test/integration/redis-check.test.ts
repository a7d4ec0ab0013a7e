import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redisCheck, redisCheckSchema } from '../../src/checks/redis.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { PluginHelper } from '../../src/lib/plugin-helper.js';
import { redisUnavailable, startRedis, type RedisServer } from '../support/redis.js';

const helper: PluginHelper = { logger: silentLogger(), name: 'cache', file: '/etc/lighthouse/services/cache.yaml', now: Date.now };
const unavailable = redisUnavailable();

function check(config: Record<string, unknown>, port: number) {
  return redisCheck.create(redisCheckSchema.parse(config), { host: '127.0.0.1', port }, helper);
}

describe('redis check against a real redis-server', { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  let open: RedisServer;
  let secured: RedisServer;

  before(async () => {
    [open, secured] = await Promise.all([startRedis(), startRedis({ password: 'health pass"word' })]);
  });

  after(async () => {
    await Promise.all([open?.stop(), secured?.stop()]);
  });

  it('passes while redis runs and fails once it is killed', async () => {
    const redis = check({}, open.port);
    const up = await redis.run(AbortSignal.timeout(5000));
    assert.equal(up.passed, true, up.detail);
    await open.kill();
    const down = await redis.run(AbortSignal.timeout(5000));
    assert.equal(down.passed, false);
    assert.match(down.detail ?? '', new RegExp(`redis 127\\.0\\.0\\.1:${open.port}: .*ECONNREFUSED`));
  });

  it('authenticates with the password option', async () => {
    const outcome = await check({ password: 'health pass"word' }, secured.port).run(AbortSignal.timeout(5000));
    assert.equal(outcome.passed, true, outcome.detail);
  });

  it('fails without the password, with the server saying why', async () => {
    const outcome = await check({}, secured.port).run(AbortSignal.timeout(5000));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /NOAUTH/);
  });

  it('fails with a wrong password without showing it', async () => {
    const outcome = await check({ password: 'not-the-password' }, secured.port).run(AbortSignal.timeout(5000));
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail ?? '', /AUTH answered "-WRONGPASS/);
    assert.doesNotMatch(outcome.detail ?? '', /not-the-password/);
  });
});
