import type { Logger } from '../lib/logger.js';
import { errorMessage } from '../lib/errors.js';

/** The listeners of one kind of service runner event (check results, transitions, registrations, conflicts). */
export class Listeners<E> {
  private readonly listeners = new Set<(event: E) => void>();

  constructor(private readonly logger: Logger) {}

  /** Returns an unsubscribe function. */
  add(listener: (event: E) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A listener that throws (metrics, status) must not break the runner. */
  emit(event: E): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error(`service runner event listener failed: ${errorMessage(error)}`);
      }
    }
  }
}
