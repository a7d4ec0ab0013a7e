import type { CheckResultEvent, ServiceStatus } from './runner-status.js';

/** One check of a port, as `lighthouse status` shows it: why a port is (not) registered. */
export interface CheckReport {
  kind: string;
  /** the check's rise/fall verdict */
  up: boolean;
  /** the last run; null: none has finished yet */
  passed: boolean | null;
  /** what the last run saw (`tcp 10.0.0.5:8080: connect ECONNREFUSED`) */
  detail: string | null;
  /** ISO time this result (pass or fail, and its detail) was first seen */
  since: string | null;
}

export interface PortReport {
  service: string;
  port: number;
  /** `host:port` registered */
  node: string;
  /** all checks up */
  up: boolean;
  registered: boolean;
  /** drain reason, or null */
  drained: string | null;
  /** the last failed publish or unpublish, until one succeeds */
  lastError: string | null;
  checks: CheckReport[];
}

interface Seen {
  passed: boolean;
  up: boolean;
  detail: string;
  since: number;
}

/** Long plugin output is cut: the state file is rewritten on each change. */
const MAX_DETAIL = 400;

/**
 * The reporter's ports for its state file. Results are told apart by pass or
 * fail and detail, not by time: the same result every interval changes
 * nothing, so the file is written when something an operator would want to
 * see changes, not on every run (`since` says how long it has been so).
 */
export class PortReports {
  /** service -> port -> check -> its last result; nested, so the hot path builds no key strings */
  private readonly seen = new Map<string, Map<number, Map<string, Seen>>>();

  /** Records a result; true when it differs from its check's last one. */
  changed(event: CheckResultEvent): boolean {
    let ports = this.seen.get(event.service);
    if (!ports) this.seen.set(event.service, (ports = new Map()));
    let checks = ports.get(event.port);
    if (!checks) ports.set(event.port, (checks = new Map()));
    const last = checks.get(event.check);
    if (last && last.passed === event.passed && last.up === event.up && last.detail === event.detail) return false;
    checks.set(event.check, { passed: event.passed, up: event.up, detail: event.detail, since: event.at });
    return true;
  }

  /** Forgets the checks of a service that went. */
  forget(service: string): void {
    this.seen.delete(service);
  }

  report(statuses: readonly ServiceStatus[]): PortReport[] {
    return statuses.flatMap((status) =>
      status.ports.map((port) => ({
        service: status.service,
        port: port.port,
        node: port.node,
        up: port.up,
        registered: port.registered,
        drained: port.drained,
        lastError: port.lastError,
        checks: port.checks.map((check) => {
          const since = this.seen.get(status.service)?.get(port.port)?.get(check.kind)?.since;
          return {
            kind: check.kind,
            up: check.up,
            passed: check.last?.passed ?? null,
            detail: check.last ? check.last.detail.slice(0, MAX_DETAIL) : null,
            since: since === undefined ? null : new Date(since).toISOString(),
          };
        }),
      })),
    );
  }
}
