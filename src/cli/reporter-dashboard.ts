import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DrainState } from '../reporter/drains.js';
import type { Reporter } from '../reporter/reporter.js';
import type { CheckStatus, PortStatus, ServiceStatus } from '../reporter/runner-status.js';
import type { Route } from './http-endpoint.js';
import { REPORTER_HTML } from './reporter-page.js';

/**
 * Why a port is or is not in discovery, in one word: `registered`;
 * `drained` (an operator's drain or maintenance); `conflict` (another
 * session holds its registration); `down` (its checks fail); `pending` (its
 * checks pass but the registration is not written yet, or failed: see
 * `lastError`).
 */
export type PortRegistration = 'registered' | 'drained' | 'conflict' | 'down' | 'pending';

/** A check as the runner reports it, with its last run's time as ISO 8601 and its output cut for the page. */
export interface ReporterPageCheck extends Omit<CheckStatus, 'last'> {
  /** the last finished run: what it saw, in the check's own words */
  last: { passed: boolean; detail: string; durationMs: number; at: string } | null;
}

export interface ReporterPagePort {
  port: number;
  /** `host:port` it registers as */
  node: string;
  registration: PortRegistration;
  registered: boolean;
  up: boolean;
  drained: string | null;
  lastError: string | null;
  conflict: { session: string; host: string | null; since: string } | null;
  checks: ReporterPageCheck[];
}

export interface ReporterPageService {
  service: string;
  discovery: string;
  phase: string;
  /** taking the service over to a new discovery session */
  handover: { since: string; stalled: boolean; file: string; pendingPorts: number[] } | null;
  ports: ReporterPagePort[];
}

export interface ReporterPageState {
  at: string;
  ready: boolean;
  services: ReporterPageService[];
  /** the drain file (`lighthouse drain`, `lighthouse maintenance`): what is drained, why, and since when */
  drains: {
    file: string;
    readable: boolean;
    /** node-wide maintenance (`lighthouse maintenance on`): every service drained */
    maintenance: { reason: string; since: string } | null;
    services: { service: string; ports: number[] | 'all'; reason: string; since: string | null }[];
  };
}

export interface ReporterDashboardSource {
  reporter: Pick<Reporter, 'status' | 'ready'>;
  drains: { readonly path: string; current(): DrainState | undefined };
}

const STATE_MAX_AGE_MS = 500;

/** The reporter's page on its `--metrics-port`: `/` (HTML, polls `/api/state` every second) and `/api/state`. */
export class ReporterDashboard {
  private body: { at: number; json: Buffer } | undefined;

  constructor(private readonly source: ReporterDashboardSource) {}

  /** Shared by every reader for STATE_MAX_AGE_MS: readers cost the reporter's checks nothing, whatever their number. */
  private stateJson(): Buffer {
    if (this.body && Date.now() - this.body.at < STATE_MAX_AGE_MS) return this.body.json;
    this.body = { at: Date.now(), json: Buffer.from(JSON.stringify(this.state())) };
    return this.body.json;
  }

  routes(): Record<string, Route> {
    return {
      '/': (_request: IncomingMessage, response: ServerResponse) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        response.end(REPORTER_HTML);
      },
      '/api/state': (_request: IncomingMessage, response: ServerResponse) => {
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(this.stateJson());
      },
    };
  }

  state(now = Date.now()): ReporterPageState {
    const { reporter, drains } = this.source;
    const current = drains.current();
    return {
      at: new Date(now).toISOString(),
      ready: reporter.ready,
      services: reporter
        .status()
        .map(pageService)
        .sort((a, b) => a.service.localeCompare(b.service)),
      drains: {
        file: drains.path,
        readable: current !== undefined,
        maintenance: current?.maintenance ? { reason: current.maintenance.reason, since: current.maintenance.since } : null,
        services: Object.entries(current?.services ?? {})
          .map(([service, entry]) => ({ service, ports: entry.ports, reason: entry.reason, since: entry.since === '' ? null : entry.since }))
          .sort((a, b) => a.service.localeCompare(b.service)),
      },
    };
  }
}

function pageService(status: ServiceStatus): ReporterPageService {
  const handover = status.handover;
  return {
    service: status.service,
    discovery: status.discovery,
    phase: status.phase,
    handover: handover ? { since: new Date(handover.since).toISOString(), stalled: handover.stalled, file: handover.file, pendingPorts: [...handover.pendingPorts] } : null,
    ports: status.ports.map(pagePort).sort((a, b) => a.port - b.port),
  };
}

function pagePort(port: PortStatus): ReporterPagePort {
  return {
    port: port.port,
    node: port.node,
    registration: registration(port),
    registered: port.registered,
    up: port.up,
    drained: port.drained,
    lastError: port.lastError,
    conflict: port.conflict ? { session: port.conflict.holder.session, host: port.conflict.holder.host ?? null, since: new Date(port.conflict.since).toISOString() } : null,
    checks: port.checks.map(pageCheck),
  };
}

function pageCheck(check: CheckStatus): ReporterPageCheck {
  const { last, ...verdict } = check;
  return { ...verdict, last: last ? { passed: last.passed, detail: cut(last.detail), durationMs: last.durationMs, at: new Date(last.at).toISOString() } : null };
}

/** A check plugin's output can be long (a whole HTTP body): the page shows its start. */
const MAX_DETAIL = 1_000;

function cut(detail: string): string {
  return detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL)}… (${detail.length - MAX_DETAIL} more characters)` : detail;
}

/** The first reason that applies, in the order an operator asks "why is it (not) registered?". */
export function registration(port: Pick<PortStatus, 'registered' | 'up' | 'drained' | 'conflict'>): PortRegistration {
  if (port.conflict) return 'conflict';
  if (port.drained !== null) return 'drained';
  if (port.registered) return 'registered';
  return port.up ? 'pending' : 'down';
}
