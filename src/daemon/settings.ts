import type { DaemonLogger } from '../lib/logger.js';
import type { ConfigSnapshot } from '../config/snapshot.js';

/**
 * Applies the root files both daemons share: logging.yaml takes effect at
 * once; plugins.yaml cannot (plugin code is loaded at start), so a change
 * is announced instead of silently ignored.
 */
export function applyDaemonSettings(previous: ConfigSnapshot, next: ConfigSnapshot, log: DaemonLogger, initial: boolean): void {
  if (next.logging && next.logging.hash !== previous.logging?.hash) log.reconfigure(next.logging.settings);
  if (!initial && next.plugins?.hash !== previous.plugins?.hash) {
    log.logger.warn({ file: next.plugins?.file }, `${next.plugins?.file ?? 'plugins.yaml'}: plugin packages are loaded at start: restart the daemon to apply this change`);
  }
}
