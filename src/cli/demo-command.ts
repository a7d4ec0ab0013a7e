import { Demo } from '../demo/demo.js';
import { errorMessage, LighthouseError } from '../lib/errors.js';
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
    // The demo's own errors are plain: this is the one place they reach the user, and it names the code.
    const failure = error instanceof LighthouseError ? error : new LighthouseError('LH_DEMO_START', errorMessage(error), {}, { cause: error });
    process.stderr.write(`lighthouse demo: could not start: ${failure.code}: ${failure.message}\n`);
    await demo.stop('start failed');
    await exitWhenFlushed(1);
  }
  await demo.done;
  await exitWhenFlushed(0);
}
