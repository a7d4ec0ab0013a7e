import { Demo } from '../demo/demo.js';
import { exitWhenFlushed } from './output.js';

export interface DemoCommandOptions {
  duration?: number;
  rate: number;
  keepFiles?: boolean;
}

/**
 * `lighthouse demo`: runs until Ctrl-C/SIGTERM (or --duration), then stops
 * everything it started. A second Ctrl-C kills what is left at once; the
 * process exit hook of src/demo/processes.ts then SIGKILLs the children.
 */
export async function runDemo(options: DemoCommandOptions): Promise<void> {
  const demo = new Demo({ durationSeconds: options.duration, rate: options.rate, keepFiles: options.keepFiles });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      process.stderr.write('second signal: killing what is left\n');
      process.exit(130);
    }
    signalled = true;
    void demo.stop(signal === 'SIGINT' ? 'Ctrl-C' : signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await demo.start();
  } catch (error) {
    process.stderr.write(`lighthouse demo: could not start: ${(error as Error).message}\n`);
    await demo.stop('start failed');
    await exitWhenFlushed(1);
  }
  await demo.done;
  await exitWhenFlushed(0);
}
