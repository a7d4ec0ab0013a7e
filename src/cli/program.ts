import { Command, InvalidArgumentError } from 'commander';
import { runWriter } from './writer-command.js';
import { registerOperatorCommands } from './operator-commands.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('lighthouse')
    .description('Service discovery for microservice fleets: keeps a local HAProxy in sync with ZooKeeper (writer) and registers healthy local services (reporter).')
    .showHelpAfterError();

  program
    .command('writer')
    .description('watch the clusters of CONFIG_DIR in discovery and keep the local load balancer in sync (runs in the foreground)')
    .argument('<config_dir>', 'config directory (balancers/, discovery/, clusters/, logging.yaml)')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and the dashboard on this port', parsePort)
    .option('--metrics-address <address>', 'address for --metrics-port', '127.0.0.1')
    .action((configDir: string, options: { metricsPort?: number; metricsAddress: string }) => runWriter(configDir, options));

  registerOperatorCommands(program);
  return program;
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('must be a port number');
  return port;
}

/** Runs `lighthouse <args>`; the alias binaries call it with their subcommand first. */
export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv, { from: 'user' });
}
