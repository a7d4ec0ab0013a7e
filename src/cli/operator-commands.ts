import { InvalidArgumentError, type Command } from 'commander';
import type { DemoCommandOptions } from './demo-command.js';
import type { CheckConfigOptions } from './check-config-command.js';
import type { StatusOptions } from './status-command.js';
import type { DrainCommandOptions } from './drain-command.js';
import type { ReleaseHoldOptions } from './release-hold-command.js';
import type { FleetOptions } from './fleet-command.js';
import type { MaintenanceOptions } from './maintenance-command.js';
import type { ConfigDumpOptions } from './config-dump-command.js';

/** The operator's commands next to the two daemons: demo, check-config, config-dump, status, drain, undrain, fleet, maintenance, release-hold. */
export function registerOperatorCommands(program: Command): void {
  program
    .command('demo')
    .description('run both example setups locally (ZooKeeper, Redis, HAProxy, writer, reporters, sample services) and show traffic being balanced; Ctrl-C stops everything')
    .option('--duration <seconds>', 'stop by itself after this many seconds (at most 2147483)', boundedInteger(MAX_TIMER_MS / 1000))
    .option('--rate <per-second>', 'requests per second sent through HAProxy', positiveInteger, 20)
    .option('--keep-files', 'keep the temp folder (generated configs, logs) after stopping')
    .action(async (options: DemoCommandOptions) => (await import('./demo-command.js')).runDemo(options));

  program
    .command('check-config')
    .description('validate every file of CONFIG_DIR, the references between them and the HAProxy config they render (haproxy -c); one line per problem, exit 1 if any')
    .argument('<config_dir>', 'config directory')
    .option('--json', 'machine-readable output: {configDir, valid, problems: [{file, setting, line, message}], warnings, counts}')
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .action(async (configDir: string, options: CheckConfigOptions) => (await import('./check-config-command.js')).runCheckConfig(configDir, options));

  program
    .command('status')
    .description('per cluster: members as discovery lists them and as HAProxy sees them; per local service: whether each port is registered or drained')
    .argument('<config_dir>', 'config directory (a writer\'s, a reporter\'s, or one with both)')
    .option('--json', 'machine-readable output')
    .option('--timeout <ms>', 'how long to wait for discovery to answer (at most 600000)', boundedInteger(600_000), 5000)
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .option('--state-dir <dir>', 'the --state-dir of the daemons of CONFIG_DIR: the writer\'s removal-guard holds, the reporter\'s stalled handovers and registration conflicts (default: CONFIG_DIR/.state)')
    .action(async (configDir: string, options: StatusOptions) => (await import('./status-command.js')).runStatus(configDir, options));

  program
    .command('drain')
    .description('take a local service (or some of its ports) out of rotation without stopping it: the reporter deregisters it and keeps it out, also across restarts')
    .argument('<config_dir>', 'the reporter\'s config directory')
    .argument('<service>', 'service name (services/<service>.yaml)')
    .option('--port <port>', 'only this port (repeatable); default: every port of the service', collectPort, [])
    .option('--reason <text>', `why, shown by \`lighthouse status\` (one line, at most ${MAX_REASON} characters)`, reasonText)
    .option('--wait', 'then wait until every live writer consuming the cluster runs a member set without the node and has no sessions on it (exit 1 naming those that do not in time)')
    .option('--timeout <seconds>', 'how long --wait waits (default 60, at most 2147483)', boundedInteger(MAX_TIMER_MS / 1000))
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .action(async (configDir: string, service: string, options: DrainCommandOptions) => (await import('./drain-command.js')).runDrain(configDir, service, options));

  program
    .command('undrain')
    .description('end a drain: the ports register again as soon as their checks pass')
    .argument('<config_dir>', 'the reporter\'s config directory')
    .argument('<service>', 'service name')
    .option('--port <port>', 'only this port (repeatable); default: every port of the service', collectPort, [])
    .option('--wait', 'then wait until every live writer consuming the cluster runs a member set with the node (exit 1 naming those that do not in time)')
    .option('--timeout <seconds>', 'how long --wait waits (default 60, at most 2147483)', boundedInteger(MAX_TIMER_MS / 1000))
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .action(async (configDir: string, service: string, options: DrainCommandOptions) => (await import('./drain-command.js')).runUndrain(configDir, service, options));

  program
    .command('fleet')
    .description('the live writers and, per cluster, the version of the member set each one runs, how far behind the newest, holds and sessions still draining (from the writers\' acknowledgement records)')
    .argument('<config_dir>', 'a config directory whose discovery/*.yaml reach the fleet\'s backends')
    .option('--cluster <name>', 'only this cluster')
    .option('--json', 'machine-readable output (schema in docs/running.md)')
    .option('--within <seconds>', 'exit 1 when a writer has run an older version than the newest for longer than this', nonNegativeNumber)
    .option('--timeout <ms>', 'how long to wait for each discovery backend (at most 600000)', boundedInteger(600_000), 5000)
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .action(async (configDir: string, options: FleetOptions) => (await import('./fleet-command.js')).runFleet(configDir, options));

  program
    .command('maintenance')
    .description('node-wide maintenance: drain every service of this machine at once (on), end it (off), or show it; the services\' own drains stay in force')
    .argument('<config_dir>', 'the reporter\'s config directory')
    .argument('[on|off]', 'on or off; nothing: show whether maintenance is on')
    .option('--reason <text>', `why, shown by \`lighthouse status\` and in the reporter's log (one line, at most ${MAX_REASON} characters)`, reasonText)
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .action(async (configDir: string, action: string | undefined, options: MaintenanceOptions) => (await import('./maintenance-command.js')).runMaintenance(configDir, action, options));

  program
    .command('config-dump')
    .description('the effective configuration: the merged, validated model of CONFIG_DIR (defaults filled in) and the HAProxy config it renders')
    .argument('<config_dir>', 'config directory')
    .option('--json', 'one JSON object: {configDir, valid, problems, model, members, balancers: [{name, file, rendered: {file, text}}]}')
    .option('--state-dir <dir>', 'the writer\'s --state-dir, whose last known members become the server lines (default: CONFIG_DIR/.state)')
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .action(async (configDir: string, options: ConfigDumpOptions) => (await import('./config-dump-command.js')).runConfigDump(configDir, options));

  program
    .command('release-hold')
    .description('end a removal-guard hold: the writer removes the members discovery no longer lists, as it would without the guard')
    .argument('<config_dir>', 'the writer\'s config directory')
    .argument('<cluster>', 'cluster name')
    .option('--timeout <ms>', 'how long to wait for the writer to act', positiveInteger, 10_000)
    .option('--state-dir <dir>', 'the writer\'s --state-dir (default: CONFIG_DIR/.state)')
    .action(async (configDir: string, cluster: string, options: ReleaseHoldOptions) => (await import('./release-hold-command.js')).runReleaseHold(configDir, cluster, options));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function collectPort(value: string, previous: number[]): number[] {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('must be a port number (1-65535)');
  return [...previous, port];
}

/** A reason for a ticket number and a few words; it is logged on every service's drain. */
const MAX_REASON = 200;

/**
 * A drain or maintenance reason: `status` prints it inside a line of its own
 * and the reporter logs it on every service, so a line break (a forged
 * status line), a control character (an escape sequence rewriting the
 * terminal) or a pasted page is refused rather than recorded.
 */
function reasonText(value: string): string {
  if (/\p{Cc}/u.test(value)) throw new InvalidArgumentError('must be one line of text, without line breaks, tabs or other control characters');
  if ([...value].length > MAX_REASON) throw new InvalidArgumentError(`must be at most ${MAX_REASON} characters (it is ${[...value].length}); put a ticket number or link, not the whole text`);
  return value;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('must be a positive whole number');
  return number;
}

function nonNegativeNumber(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0) throw new InvalidArgumentError('must be a number of seconds, 0 or more');
  return number;
}

/** Node's timers hold at most this; a longer delay fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/** A positive whole number that ends up in a timer, so it has a maximum. */
function boundedInteger(max: number): (value: string) => number {
  const limit = Math.floor(max);
  return (value) => {
    const number = positiveInteger(value);
    if (number > limit) throw new InvalidArgumentError(`must be at most ${limit}`);
    return number;
  };
}
