/**
 * How every command ends. process.stdout/stderr are asynchronous when they are
 * pipes: calling process.exit() right after a write drops whatever the reader
 * has not taken yet (a `status --json | slow-consumer` got 64 KiB of JSON and
 * exit 0). So a command that must end with a given status first waits until
 * both streams have handed everything to the kernel.
 */

/** Thrown by a command to end with `code`, after printing `message` on stderr (if any). */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    readonly stderrLine?: string,
  ) {
    super(stderrLine ?? `exit ${exitCode}`);
    this.name = 'CliExit';
  }
}

/** Ends the command with `lighthouse: <message>` on stderr and exit status `code` (1 unless told). */
export function fail(message: string, code = 1): never {
  throw new CliExit(code, `lighthouse: ${message}\n`);
}

/** Resolves once `stream` has handed all it was given to the kernel (or can no longer: a reader that went away). */
export function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed || !stream.writable) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('error', done);
      resolve();
    };
    stream.once('error', done);
    // Write callbacks run in order: this one runs after every earlier write is out.
    stream.write('', done);
  });
}

/** Writes `text` to stdout and resolves once it is out (or stdout is gone: `| head` closing early is not an error). */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.destroyed || !process.stdout.writable) return resolve();
    process.stdout.write(text, () => resolve());
  });
}

/** Exits with `code` once stdout and stderr are flushed. */
export async function exitWhenFlushed(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

/**
 * A reader that closes the pipe early (`lighthouse status | head`) makes the
 * next write fail with EPIPE; without a listener that is an uncaught
 * exception with a stack trace. The output is no longer wanted: end quietly.
 */
export function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') return;
      throw error;
    });
  }
}
