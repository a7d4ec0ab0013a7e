import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ServiceRunner } from '../../src/reporter/service-runner.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import type { Logger } from '../../src/lib/logger.js';
import { FakeDiscovery } from '../support/fake-discovery.js';
import { waitFor } from '../support/wait-for.js';
import { captureLogger } from '../support/zookeeper.js';
import { scriptedCheck, serviceItem } from '../support/service-item.js';

/** A check plugin whose `run` is the test's function: what a third-party plugin may do. */
function pluginRunning(kind: string, run: (signal: AbortSignal) => unknown): CheckPlugin {
  return { kind, schema: z.unknown(), create: () => ({ run: run as never }) };
}

const runners: ServiceRunner[] = [];

function start(plugin: CheckPlugin, options: { rise?: number; fall?: number; timeoutMs?: number; logger?: Logger } = {}): { runner: ServiceRunner; fake: FakeDiscovery } {
  const fake = new FakeDiscovery();
  const runner = new ServiceRunner({
    item: serviceItem({ checks: [scriptedCheck({ kind: plugin.kind, rise: options.rise ?? 1, fall: options.fall ?? 1, timeoutMs: options.timeoutMs ?? 1000 })] }),
    discovery: fake,
    identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
    checkPlugins: new Map([[plugin.kind, plugin]]),
    logger: options.logger ?? captureLogger('silent').logger,
    timing: { reconcileMs: 3_600_000, minWriteGapMs: 0, retryInitialMs: 10, retryMaxMs: 40, discoveryTimeoutMs: 2000 },
  });
  fake.connect({ onSession: (sessionId) => runner.onSession(sessionId) });
  runners.push(runner);
  runner.start();
  return { runner, fake };
}

const check = (runner: ServiceRunner) => runner.status().ports[0]?.checks[0];

afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.stop({ deregister: false })));
});

describe('check plugin results are validated (#19.5)', () => {
  const invalid: [string, unknown][] = [
    ['passed as the string "false"', { passed: 'false' }],
    ['passed as 1', { passed: 1, detail: 'one' }],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'ok'],
    ['a detail that is not a string', { passed: true, detail: { text: 'fine' } }],
    [
      'an object whose passed getter throws',
      {
        get passed(): boolean {
          throw new Error('unreadable');
        },
      },
    ],
  ];
  for (const [what, value] of invalid) {
    it(`a run resolving with ${what} is a failed run naming the plugin, and the port stays down`, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const { runner, fake } = start(pluginRunning('sloppy', () => Promise.resolve(value)));
        // Several runs: each must fail the same way (not only the first).
        const results: { passed: boolean; detail: string }[] = [];
        runner.onCheckResult((event) => results.push(event));
        await waitFor(() => results.length >= 3, 'three runs');
        for (const result of results) {
          assert.equal(result.passed, false);
          assert.match(result.detail, /check plugin "sloppy" resolved with/);
        }
        assert.equal(runner.status().ports[0]?.up, false);
        assert.equal(fake.count('publish'), 0, 'nothing was registered');
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  }

  it('a run that throws or rejects is a failed run naming the plugin', async () => {
    const { runner: throwing } = start(
      pluginRunning('thrower', () => {
        throw new Error('boom');
      }),
    );
    const { runner: rejecting } = start(pluginRunning('rejecter', () => Promise.reject(new Error('bang'))));
    assert.equal((await waitFor(() => check(throwing)?.last, 'a result')).detail, 'check plugin "thrower" threw: boom');
    assert.equal((await waitFor(() => check(rejecting)?.last, 'a result')).detail, 'check plugin "rejecter" threw: bang');
  });

  it('a valid outcome still counts as it is', async () => {
    const { runner, fake } = start(pluginRunning('good', () => Promise.resolve({ passed: true, detail: 'fine' })));
    await waitFor(() => fake.registered('webapp', 'node1.example.com:8001'), 'the port to register');
    assert.equal(check(runner)?.last?.detail, 'fine');
  });
});

describe('check details and log lines name the check once (#19.8)', () => {
  it('a timed-out run says "timed out" without repeating where it is', async () => {
    const { logger, lines } = captureLogger('info');
    const hang = (signal: AbortSignal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ passed: false, detail: 'aborted' })));
    const { runner } = start(pluginRunning('http', hang), { timeoutMs: 30, logger });
    const last = await waitFor(() => check(runner)?.last, 'a timed-out run');
    assert.equal(last.detail, 'timed out after 30 ms');
    const failed = await waitFor(() => lines().find((line) => /failed/.test(String(line.msg))), 'the failure line');
    assert.equal(failed.msg, 'service webapp port 8001 check http failed: timed out after 30 ms');
    const down = lines().filter((line) => /service webapp port 8001 check http/.test(String(line.msg)));
    for (const line of down) assert.equal(String(line.msg).match(/service webapp port 8001/g)?.length, 1, `named once: ${String(line.msg)}`);
  });

  it('an unknown check kind says so once', async () => {
    const fake = new FakeDiscovery();
    const runner = new ServiceRunner({
      item: serviceItem({ checks: [scriptedCheck({ kind: 'carrier-pigeon', rise: 1, fall: 1 })] }),
      discovery: fake,
      identity: { fqdn: 'node1.example.com', ip: '10.0.0.5' },
      checkPlugins: new Map(),
      logger: captureLogger('silent').logger,
    });
    runners.push(runner);
    runner.start();
    const last = await waitFor(() => check(runner)?.last, 'a result');
    assert.equal(last.detail, 'no check plugin "carrier-pigeon" is registered');
  });
});

describe('a failing or flapping check logs state changes, not runs (#11.11)', () => {
  it('a check flapping pass/fail logs one warning, not one per failed run', async () => {
    const { logger, lines } = captureLogger('info');
    let flip = false;
    const flap = () => {
      flip = !flip;
      return Promise.resolve(flip ? { passed: true, detail: 'HTTP 200' } : { passed: false, detail: 'HTTP 503' });
    };
    const { runner } = start(pluginRunning('http', flap), { rise: 2, fall: 2, logger });
    const results: boolean[] = [];
    runner.onCheckResult((event) => results.push(event.passed));
    await waitFor(() => results.filter((passed) => !passed).length >= 20, 'twenty failed runs');
    const warnings = lines().filter((line) => line.level === 40);
    assert.equal(warnings.length, 1, `warnings: ${warnings.map((line) => String(line.msg)).join(' | ')}`);
    assert.equal(warnings[0]?.msg, 'service webapp port 8001 check http failed: HTTP 503');
  });

  it('down for many runs: one warning; back up: one line; down again: one more warning', async () => {
    const { logger, lines } = captureLogger('info');
    let healthy = false;
    let runs = 0;
    const { runner } = start(
      pluginRunning('http', () => {
        runs += 1;
        return Promise.resolve(healthy ? { passed: true, detail: 'HTTP 200' } : { passed: false, detail: 'connection refused' });
      }),
      { rise: 2, fall: 2, logger },
    );
    await waitFor(() => runs >= 15, 'fifteen failed runs');
    const failedLines = () => lines().filter((line) => /check http failed/.test(String(line.msg))).length;
    assert.equal(failedLines(), 1);
    healthy = true;
    await waitFor(() => runner.status().ports[0]?.up, 'the port up');
    await waitFor(() => lines().some((line) => /check http passes again: HTTP 200/.test(String(line.msg))), 'the passes-again line');
    healthy = false;
    await waitFor(() => !runner.status().ports[0]?.up, 'the port down');
    const at = runs;
    await waitFor(() => runs >= at + 10, 'ten more failed runs');
    assert.equal(failedLines(), 2);
    assert.equal(lines().filter((line) => /passes again/.test(String(line.msg))).length, 1);
  });
});
