import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfigFile } from '../../src/config/parse.js';
import { formatWarning, type ConfigItem } from '../../src/config/model.js';
import { newWarnings, snapshotOf } from '../../src/config/snapshot.js';
import { createDaemonLogger } from '../../src/lib/logger.js';
import { coreRegistries } from '../support/core-registries.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

/** Files as the original (Python) Lighthouse's docs write them: accepted, with warnings for what means nothing here. */

const registries = coreRegistries();

function parse(kind: Parameters<typeof parseConfigFile>[0], file: string, text: string): ConfigItem {
  const result = parseConfigFile(kind, file, text, file.replace(/^.*\/|\.ya?ml$/g, ''), registries);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.error));
  return result.value;
}

const ORIGINAL_HAPROXY = `config_file: "/run/lh/haproxy.cfg"
socket_file: "/run/lh/haproxy.sock"
pid_file: "/run/lh/haproxy.pid"
bind_address: "127.0.0.1"
global:
  - "daemon"
  - "maxconn 40000"
  - "user haproxy"
defaults:
  - "balance roundrobin"
  - "timeout connect 10s"
`;

test('a balancer file with the original\'s "daemon" line: accepted, the line dropped, one warning naming file, setting and line', () => {
  const item = parse('balancer', '/etc/lh/balancers/haproxy.yaml', ORIGINAL_HAPROXY);
  assert.equal(item.kind, 'balancer');
  if (item.kind !== 'balancer') return;
  assert.deepEqual((item.config as { global: string[] }).global, ['maxconn 40000', 'user haproxy']);
  assert.deepEqual(item.warnings?.map(formatWarning), ['/etc/lh/balancers/haproxy.yaml: global.0 (line 6): warning: ignored "daemon": Lighthouse runs HAProxy as a detached master-worker process itself']);
});

test('master-worker, pidfile and the documented-but-unread meta_cluster_ports are ignored with warnings too', () => {
  const text = `${ORIGINAL_HAPROXY.replace('  - "daemon"\n', '  - "master-worker"\n  - "pidfile /var/run/other.pid"\n')}meta_cluster_ports:\n  webapi: 8888\n`;
  const item = parse('balancer', '/etc/lh/balancers/haproxy.yaml', text);
  assert.deepEqual(
    item.warnings?.map((warning) => warning.setting),
    ['meta_cluster_ports', 'global.0', 'global.1'],
  );
  assert.deepEqual(item.kind === 'balancer' && (item.config as { global: string[] }).global, ['maxconn 40000', 'user haproxy']);
});

const DOCS_LOGGING = `version: 1
disable_existing_loggers: False
filters:
  context:
    "()": lighthouse.log.ContextFilter
formatters:
  syslog:
    format: 'lighthouse: [%(program)s] [%(threadName)s] %(message)s'
handlers:
  cli:
    class: 'lighthouse.log.cli.CLIHandler'
    stream: "ext://sys.stdout"
  syslog:
    class: 'logging.handlers.SysLogHandler'
    address: '/dev/log'
    facility: "local6"
    filters: ["context"]
    formatter: 'syslog'
root:
  handlers: ['syslog', 'cli']
  level: "DEBUG"
  propagate: true
`;

test('the original docs\' logging.yaml (dictConfig): root level mapped, each handler, formatter and filter a warning', () => {
  const item = parse('logging', '/etc/lh/logging.yaml', DOCS_LOGGING);
  assert.equal(item.kind, 'logging');
  if (item.kind !== 'logging') return;
  assert.equal(item.settings.level, 'debug');
  assert.equal(item.settings.destination, 'stdout');
  assert.equal(item.settings.modules, undefined);
  assert.deepEqual(item.warnings?.map((warning) => warning.setting).sort(), ['filters.context', 'formatters.syslog', 'handlers.cli', 'handlers.syslog']);
  for (const warning of item.warnings ?? []) assert.match(formatWarning(warning), /^\/etc\/lh\/logging\.yaml: \S+ \(line \d+\): warning: ignored: a Python logging /);
});

test('dictConfig loggers map onto module levels; "lighthouse" sets the overall level; unknown loggers are warned about', () => {
  const text = [
    'version: 1',
    'root: {level: WARNING}',
    'loggers:',
    '  lighthouse: {level: INFO}',
    '  kazoo: {level: ERROR}',
    '  lighthouse.haproxy.control: {level: 10}',
    '  lighthouse.reporter: {level: NOTSET}',
    '  requests: {level: DEBUG}',
    'handlers:',
    '  file: {class: logging.FileHandler, filename: /var/log/lighthouse.log}',
    'root_unused: 1',
  ].join('\n');
  const item = parse('logging', '/etc/lh/logging.yaml', text.replace('root: {level: WARNING}', 'root: {level: WARNING, handlers: [file]}'));
  if (item.kind !== 'logging') return assert.fail('not a logging item');
  assert.equal(item.settings.level, 'info');
  assert.deepEqual(item.settings.modules, { discovery: 'error', balancer: 'debug' });
  assert.equal(item.settings.destination, '/var/log/lighthouse.log', "the root's file handler");
  assert.deepEqual(item.warnings?.map((warning) => warning.setting).sort(), ['handlers.file', 'loggers.requests', 'root_unused']);
});

test('dictConfig without a root level is at WARNING, as Python\'s root logger; a level Python refuses is an error naming it', () => {
  const bare = parse('logging', '/etc/lh/logging.yaml', 'version: 1\n');
  assert.equal(bare.kind === 'logging' && bare.settings.level, 'warn');
  const result = parseConfigFile('logging', '/etc/lh/logging.yaml', 'version: 1\nroot:\n  level: VERBOSE\n', 'logging', registries);
  assert.ok(!result.ok);
  assert.equal(result.error[0]!.setting, 'root.level');
  assert.equal(result.error[0]!.line, 3);
});

test('our own logging.yaml takes per-module levels', () => {
  const item = parse('logging', '/etc/lh/logging.yaml', 'level: info\nmodules:\n  discovery: debug\n');
  assert.deepEqual(item.kind === 'logging' && item.settings.modules, { discovery: 'debug' });
  assert.ok(!parseConfigFile('logging', '/etc/lh/logging.yaml', 'modules:\n  zookeper: debug\n', 'logging', registries).ok, 'an unknown module is an error');
});

test('module levels apply to the child loggers of that module, also after a reconfigure', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const file = join(dir.path, 'log.json');
  const log = createDaemonLogger('writer', { level: 'info', format: 'json', destination: file, modules: { discovery: 'debug' } });
  const zookeeper = log.logger.child({ module: 'discovery:zk' }).child({ module: 'zookeeper' });
  const balancer = log.logger.child({ module: 'balancer:haproxy' });
  zookeeper.debug('zk-debug-1');
  balancer.debug('balancer-debug-1');
  log.reconfigure({ level: 'info', format: 'json', destination: file, modules: { balancer: 'debug' } });
  zookeeper.debug('zk-debug-2');
  balancer.debug('balancer-debug-2');
  log.logger.info('done');
  const text = await waitFor(async () => {
    const content = await readFile(file, 'utf8').catch(() => '');
    return content.includes('"done"') ? content : undefined;
  }, 'the log lines');
  const messages = text.trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg);
  assert.deepEqual(messages, ['zk-debug-1', 'balancer-debug-2', 'done']);
});

test('warnings are logged once per parsed version of a file, not on every rescan', () => {
  const first = parse('balancer', '/etc/lh/balancers/haproxy.yaml', ORIGINAL_HAPROXY);
  const cluster = parse('cluster', '/etc/lh/clusters/web.yaml', 'discovery: zookeeper\nhaproxy:\n  port: 8000\n');
  const before = snapshotOf([first, cluster]);
  assert.equal(newWarnings(undefined, before).length, 1);
  assert.equal(newWarnings(before, snapshotOf([first, cluster])).length, 0, 'same items: nothing new');
  const edited = parse('balancer', '/etc/lh/balancers/haproxy.yaml', `${ORIGINAL_HAPROXY}# edited\n`);
  assert.equal(newWarnings(before, snapshotOf([edited, cluster])).length, 1, 'the file was read again');
});
