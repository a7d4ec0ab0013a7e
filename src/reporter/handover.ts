import type { ServiceRunner } from './service-runner.js';

/**
 * Resolves once `next` has registered every port in `ports` (or the deadline
 * passes), so the runner it replaces can be stopped without a gap in the
 * registrations consumers see.
 */
export function whenRegistered(next: ServiceRunner, ports: readonly number[], deadlineMs: number): Promise<void> {
  const pending = new Set(ports);
  for (const port of next.status().ports) if (port.registered) pending.delete(port.port);
  if (pending.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      resolve();
    };
    const timer = setTimeout(done, deadlineMs);
    const unsubscribe = next.onRegistration((event) => {
      if (event.action === 'publish' && event.ok) pending.delete(event.port);
      if (pending.size === 0) done();
    });
  });
}

/** Ports of `runner` that are registered now: what its replacement must take over. */
export function registeredPorts(runner: ServiceRunner): number[] {
  return runner
    .status()
    .ports.filter((port) => port.registered)
    .map((port) => port.port);
}

/** Long enough for a new runner to pass `rise` checks on every port, with slack for a slow backend. */
export function handoverDeadline(runner: ServiceRunner, intervalMs: number): number {
  const rise = Math.max(1, ...runner.status().ports.flatMap((port) => port.checks.map((check) => check.rise)));
  return (rise + 1) * intervalMs + 5_000;
}
