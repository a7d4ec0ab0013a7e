import { basename } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { buildInfo } from '../lib/version.js';
import type { DaemonCommandOptions } from './writer-command.js';
import { registerOperatorCommands } from './operator-commands.js';
import { CliExit, exitWhenFlushed, ignoreClosedPipes } from './output.js';

/**
 * Each command's code is imported when that command runs: a writer never
 * loads the reporter, the demo or the operator commands (~4 MB of RSS).
 */
export function buildProgram(name = 'lighthouse-sd'): Command {
  const { version } = buildInfo();
  const program = new Command();
  program
    .name(name)
    .version(version, '-V, --version', 'print the version and exit')
    .description('Service discovery for microservice fleets: keeps a local HAProxy in sync with ZooKeeper (writer) and registers healthy local services (reporter).')
    .showHelpAfterError()
    // Commander would call process.exit() itself after --help or a usage error; main() exits once the output is out.
    .exitOverride();

  program
    .command('writer')
    .description('watch the clusters of CONFIG_DIR in discovery and keep the local load balancer in sync (runs in the foreground)')
    .argument('<config_dir>', 'config directory (balancers/, discovery/, clusters/, logging.yaml)')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and the dashboard on this port', parsePort)
    .option('--metrics-address <address>', 'address for --metrics-port', '127.0.0.1')
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .option('--state-dir <dir>', 'where the last known members, removal-guard holds and the writer\'s lock are kept (default: CONFIG_DIR/.state)')
    .option('--history-interval <seconds>', 'how often the dashboard samples each cluster\'s members and requests for its last-hour chart (1 to 3600; below 5 the chart covers less than the hour)', secondsOption(3600), 10)
    .addOption(logLevelOption())
    // so that `lighthouse-writer --version` (= `lighthouse writer --version`) answers too
    .version(version, '-V, --version', 'print the version and exit')
    .action(async (configDir: string, options: DaemonCommandOptions) => (await import('./writer-command.js')).runWriter(configDir, options));

  program
    .command('reporter')
    .description('health-check the services of CONFIG_DIR and register the healthy ones in discovery (runs in the foreground)')
    .argument('<config_dir>', 'config directory (discovery/, services/, logging.yaml)')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and the reporter\'s page on this port', parsePort)
    .option('--metrics-address <address>', 'address for --metrics-port', '127.0.0.1')
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .option('--state-dir <dir>', 'a writable folder for the reporter\'s lock and its state file for `lighthouse status`, for a read-only CONFIG_DIR (default: CONFIG_DIR/.state; drains stay in CONFIG_DIR/.state)')
    .addOption(logLevelOption())
    .version(version, '-V, --version', 'print the version and exit')
    .action(async (configDir: string, options: DaemonCommandOptions) => (await import('./reporter-command.js')).runReporter(configDir, options));

  registerOperatorCommands(program);
  return program;
}

/**
 * Help names the command the operator typed: `lighthouse-sd`, or its alias
 * `lighthouse` (which clashes with Google Lighthouse when both are installed).
 */
function programName(): string {
  const invoked = basename(process.argv[1] ?? '');
  return invoked === 'lighthouse' ? invoked : 'lighthouse-sd';
}

/** The flag wins over the variable, both over logging.yaml (`level` and `modules:`), also after it is reloaded. */
function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log at this level whatever logging.yaml says')
    .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
    .env('LIGHTHOUSE_LOG_LEVEL');
}

/** Accumulates a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A whole number of seconds from 1 to `max`. */
function secondsOption(max: number): (value: string) => number {
  return (value) => {
    const seconds = Number(value);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > max) throw new InvalidArgumentError(`must be a whole number of seconds from 1 to ${max}`);
    return seconds;
  };
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('must be a port number');
  return port;
}

/**
 * Runs `lighthouse <args>`; the alias binaries call it with their subcommand
 * first. Every way a command ends with a status of its own (a CliExit, a
 * usage error, --help, `process.exitCode`) goes through exitWhenFlushed, so
 * piped output is never cut short.
 */
export async function main(argv: string[]): Promise<void> {
  ignoreClosedPipes();
  try {
    await buildProgram(programName()).parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CliExit) {
      if (error.stderrLine) process.stderr.write(error.stderrLine);
      await exitWhenFlushed(error.exitCode);
    }
    // Commander has printed the help or the usage error already.
    if (error instanceof CommanderError) await exitWhenFlushed(error.exitCode);
    throw error;
  }
}
