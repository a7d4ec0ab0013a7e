import { access } from 'node:fs/promises';
import { createDaemonLogger } from '../lib/logger.js';
import { runUntilSignalled } from '../lib/lifecycle.js';
import { createRegistries } from '../plugins/registry.js';
import { registerBuiltins } from '../plugins/builtins.js';
import { Writer } from '../writer/writer.js';

export interface WriterCommandOptions {
  metricsPort?: number;
  metricsAddress: string;
}

export async function runWriter(configDir: string, options: WriterCommandOptions): Promise<void> {
  const log = createDaemonLogger('writer');
  await assertDirectory(configDir);
  const registries = createRegistries();
  registerBuiltins(registries);
  const writer = new Writer({ configDir, registries, log });
  void options;
  await runUntilSignalled(writer, log.logger);
}

async function assertDirectory(path: string): Promise<void> {
  try {
    await access(path);
  } catch {
    process.stderr.write(`lighthouse: config directory ${path} does not exist\n`);
    process.exit(2);
  }
}
