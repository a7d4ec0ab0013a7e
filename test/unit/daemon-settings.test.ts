import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { applyDaemonSettings } from '../../src/daemon/settings.js';
import { emptySnapshot, type ConfigSnapshot } from '../../src/config/snapshot.js';
import type { DaemonLogger, LogSettings } from '../../src/lib/logger.js';

function capture(): { log: DaemonLogger; lines: string[]; settings: LogSettings[] } {
  const lines: string[] = [];
  const settings: LogSettings[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  return { log: { logger, reconfigure: (next) => void settings.push(next) }, lines, settings };
}

const withPlugins = (hash: string): ConfigSnapshot => ({ ...emptySnapshot(), plugins: { kind: 'plugins', name: 'plugins', file: '/c/plugins.yaml', hash, packages: ['x'] } });

test('a changed logging.yaml is applied at once', () => {
  const { log, settings } = capture();
  const next: ConfigSnapshot = { ...emptySnapshot(), logging: { kind: 'logging', name: 'logging', file: '/c/logging.yaml', hash: 'h1', settings: { level: 'debug', format: 'json', destination: 'stdout' } } };
  applyDaemonSettings(emptySnapshot(), next, log, true);
  assert.equal(settings[0]?.level, 'debug');
  applyDaemonSettings(next, next, log, false);
  assert.equal(settings.length, 1, 'unchanged: not applied again');
});

test('a plugins.yaml change after start asks for a restart; the first read does not', () => {
  const { log, lines } = capture();
  applyDaemonSettings(emptySnapshot(), withPlugins('a'), log, true);
  assert.equal(lines.length, 0);
  applyDaemonSettings(withPlugins('a'), withPlugins('b'), log, false);
  assert.match(lines[0] ?? '', /plugins\.yaml: plugin packages are loaded at start: restart the daemon/);
});
