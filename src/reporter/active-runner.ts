import type { ServiceItem } from '../config/model.js';
import type { Handover } from './handover.js';
import type { PortReports } from './port-report.js';
import type { ServiceRunner } from './service-runner.js';
import type { ReporterTroubles } from './state-file.js';

/** A service's runner as the reporter holds it, with the handover or reclaim it is part of. */
export interface ActiveRunner {
  item: ServiceItem;
  runner: ServiceRunner;
  /** the discovery instance the runner publishes through */
  instance: object;
  /** this runner is taking over from `from`, which keeps its registrations until then */
  handover?: { from: ActiveRunner; state: Handover; file: string };
  /** an abandoned runner that took nodes over on `by`'s backend: kept (yielding) until `by` holds them again */
  reclaim?: { by: ActiveRunner; state: Handover };
}

/**
 * What `lighthouse status` cannot ask a running reporter, gathered for its
 * state file: each port's last check and registration, stalled handovers
 * (with the state of the new session, from `sessionState`) and ports yielded
 * to another session. Sorted by service, so an unchanged reporter writes
 * an unchanged file.
 */
export function collectTroubles(runners: readonly ActiveRunner[], portReports: PortReports, sessionState: (instance: object) => string | undefined): ReporterTroubles {
  const troubles: ReporterTroubles = { stalled: [], conflicts: [], ports: portReports.report(runners.map((active) => active.runner.status()).sort((a, b) => a.service.localeCompare(b.service))) };
  for (const active of [...runners].sort((a, b) => a.item.name.localeCompare(b.item.name))) {
    const handover = active.handover;
    if (handover?.state.stalled) {
      troubles.stalled.push({
        service: active.item.name,
        discovery: active.item.discovery,
        file: handover.file,
        since: new Date(handover.state.since).toISOString(),
        session: sessionState(active.instance) ?? 'not connected yet',
      });
    }
    for (const runner of handover ? [active.runner, handover.from.runner] : [active.runner]) {
      for (const port of runner.status().ports) {
        if (!port.conflict) continue;
        troubles.conflicts.push({ service: runner.name, port: port.port, node: port.node, holder: { ...port.conflict.holder }, session: port.conflict.session, since: new Date(port.conflict.since).toISOString() });
      }
    }
  }
  return troubles;
}

/** Runners publishing through `instance`: active ones, the ones they take over from, and stopping ones. */
export function runnersOn(instance: object, active: Iterable<ActiveRunner>, leaving: Iterable<ActiveRunner>): ServiceRunner[] {
  const all = [...active].flatMap((entry) => (entry.handover ? [entry, entry.handover.from] : [entry]));
  return [...all, ...leaving].filter((entry) => entry.instance === instance).map((entry) => entry.runner);
}

/** `port\0check` of every check some runner of `service` still runs (the current one, the one it takes over from, stopping ones). */
export function runningChecks(service: string, runners: readonly (ActiveRunner | undefined)[]): Set<string> {
  const running = new Set<string>();
  for (const active of runners.flatMap((entry) => (entry?.handover ? [entry, entry.handover.from] : [entry]))) {
    if (active?.item.name !== service) continue;
    for (const port of active.item.ports) for (const check of active.item.checks) running.add(`${port}\0${check.kind}`);
  }
  return running;
}
