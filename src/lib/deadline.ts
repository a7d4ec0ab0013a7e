export interface DeadlineOptions {
  /**
   * Keep the process alive until the deadline. Off by default (a deadline
   * alone never holds a daemon up), but needed when nothing else may: a
   * plugin import stuck on a top-level await leaves an empty event loop, and
   * Node would exit with code 13 before an unref'd deadline could report it.
   */
  keepAlive?: boolean;
}

/** Rejects with `onTimeout()` if `promise` has not settled within `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error, options: DeadlineOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    if (!options.keepAlive) timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
