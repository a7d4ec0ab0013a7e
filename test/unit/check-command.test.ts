import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPluginRegistries } from '../../src/daemon/plugin-loader.js';
import type { PluginRegistries } from '../../src/plugins/registry.js';
import type { CheckPlugin } from '../../src/checks/plugin-types.js';
import type { CheckOutcome } from '../../src/checks/types.js';
import { parseConfigFile } from '../../src/config/parse.js';
import { formatProblem } from '../../src/config/model.js';
import { silentLogger } from '../../src/lib/logger.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The example plugin package (examples/plugins/lighthouse-check-command),
 * loaded by path through the plugin loader exactly as `--plugin <path>` does.
 * The installed-package path is tested in test/integration/plugin-package.test.ts.
 */

const PACKAGE_DIR = fileURLToPath(new URL('../../examples/plugins/lighthouse-check-command', import.meta.url));
const node = process.execPath;

describe('example plugin: command check', () => {
  let registries: PluginRegistries;
  let plugin: CheckPlugin;

  before(async () => {
    ({ registries } = await loadPluginRegistries({ configDir: PACKAGE_DIR, extra: [PACKAGE_DIR], logger: silentLogger() }));
    plugin = registries.checks.get('command')!;
    assert.ok(plugin, 'the package registers the "command" check');
  });

  const run = (command: string[], signal: AbortSignal = new AbortController().signal, port = 8080): Promise<CheckOutcome> => {
    const config = plugin.schema.parse({ command });
    const check = plugin.create(config, { host: '127.0.0.1', port }, { logger: silentLogger(), name: 'svc', file: 'services/svc.yaml', now: Date.now });
    return check.run(signal);
  };

  test('exit 0 passes; any other exit fails with the first line of stderr (else stdout) as detail', async () => {
    assert.equal((await run(['true'])).passed, true);
    const failed = await run([node, '-e', 'console.log("out"); console.error("\\n  disk full  \\nmore"); process.exit(3)']);
    assert.equal(failed.passed, false);
    assert.match(failed.detail!, /: exit 3: disk full$/);
    const quiet = await run([node, '-e', 'console.log("only stdout"); process.exit(1)']);
    assert.match(quiet.detail!, /: exit 1: only stdout$/);
  });

  test('no shell: arguments reach the program literally', async () => {
    const outcome = await run([node, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', 'a;b', '$(id)', '*', '"q"']);
    assert.equal(outcome.passed, true);
    assert.ok(outcome.detail!.endsWith('["a;b","$(id)","*","\\"q\\""]'), outcome.detail);
  });

  test('a program that does not exist fails with the reason', async () => {
    const outcome = await run(['/nonexistent/lighthouse-probe']);
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail!, /cannot run: ENOENT/);
  });

  test('the checked host and port reach the program as environment', async () => {
    const script = 'process.exit(process.env.LIGHTHOUSE_CHECK_HOST === "127.0.0.1" && process.env.LIGHTHOUSE_CHECK_PORT === "9090" ? 0 : 1)';
    assert.equal((await run([node, '-e', script], undefined, 9090)).passed, true);
  });

  test('abort (the timeout) kills the program and everything it started', async () => {
    // The program starts a grandchild, reports both pids, then hangs.
    const script = 'const c = require("node:child_process").spawn("sleep", ["300"], { stdio: "ignore" }); console.log(process.pid + " " + c.pid); setInterval(() => {}, 1000);';
    const controller = new AbortController();
    const pending = run([node, '-e', script], controller.signal);
    const pids = await waitFor(() => findPids(script), 'the program and its child to start');
    controller.abort(new Error('timed out after 1000 ms'));
    const outcome = await pending;
    assert.equal(outcome.passed, false);
    assert.match(outcome.detail!, /killed \(timed out after 1000 ms\)/);
    for (const pid of pids) await waitFor(() => !alive(pid), `process ${pid} to be gone`);
  });

  test('settings are validated by the schema from api.z, with the core error format', () => {
    const text = 'port: 8080\ndiscovery: zk\nchecks:\n  interval: 1\n  command:\n    command: []\n    shell: true\n    rise: 1\n    fall: 1\n';
    const parsed = parseConfigFile('service', '/etc/lighthouse/services/svc.yaml', text, 'svc', registries);
    assert.equal(parsed.ok, false);
    const messages = parsed.ok ? [] : parsed.error.map(formatProblem);
    assert.ok(messages.some((m) => /^\/etc\/lighthouse\/services\/svc\.yaml: checks\.command\.command \(line 6\): needs the program/.test(m)), messages.join('\n'));
    assert.ok(messages.some((m) => /checks\.command\.shell \(line 7\): unknown setting/.test(m)), messages.join('\n'));
    const good = parseConfigFile('service', 'svc.yaml', 'port: 8080\ndiscovery: zk\nchecks:\n  interval: 1\n  command:\n    command: [test, -f, /tmp/x]\n    rise: 1\n    fall: 1\n    timeout: 0.5\n', 'svc', registries);
    assert.ok(good.ok && good.value.kind === 'service');
    assert.deepEqual(good.value.checks[0], { kind: 'command', rise: 1, fall: 1, timeoutMs: 500, config: { command: ['test', '-f', '/tmp/x'] } });
  });
});

/** The program and its children, found in /proc by the program's command line (its stdout belongs to the check). */
function findPids(script: string): number[] | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.split('\0').includes(script)) continue;
    const parent = Number(entry);
    const children = readdirSync('/proc')
      .filter((candidate) => /^\d+$/.test(candidate))
      .filter((candidate) => {
        try {
          return Number(readFileSync(`/proc/${candidate}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === parent;
        } catch {
          return false;
        }
      })
      .map(Number);
    if (children.length > 0) return [parent, ...children];
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    // A zombie still answers signal 0: count only processes that are not dead.
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
