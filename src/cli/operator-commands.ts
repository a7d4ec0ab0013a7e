import { InvalidArgumentError, type Command } from 'commander';
import { runDemo, type DemoCommandOptions } from './demo-command.js';
import { runCheckConfig, type CheckConfigOptions } from './check-config-command.js';

/** The operator's commands next to the two daemons: demo, check-config, status, drain, undrain. */
export function registerOperatorCommands(program: Command): void {
  program
    .command('demo')
    .description('run both example setups locally (ZooKeeper, Redis, HAProxy, writer, reporters, sample services) and show traffic being balanced; Ctrl-C stops everything')
    .option('--duration <seconds>', 'stop by itself after this many seconds', positiveInteger)
    .option('--rate <per-second>', 'requests per second sent through HAProxy', positiveInteger, 20)
    .option('--keep-files', 'keep the temp folder (generated configs, logs) after stopping')
    .action((options: DemoCommandOptions) => runDemo(options));

  program
    .command('check-config')
    .description('validate every file of CONFIG_DIR, the references between them and the HAProxy config they render (haproxy -c); one line per problem, exit 1 if any')
    .argument('<config_dir>', 'config directory')
    .option('--plugin <package>', 'load a plugin package, besides those in CONFIG_DIR/plugins.yaml (repeatable)', collect, [])
    .action((configDir: string, options: CheckConfigOptions) => runCheckConfig(configDir, options));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('must be a positive whole number');
  return number;
}
