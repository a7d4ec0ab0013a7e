import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DeferredCounts } from './deferred-counts.js';
import { buildInfo } from './version.js';

/**
 * Prometheus metrics of one daemon. Each daemon owns its own registry (tests
 * run several daemons in one process), prefixed `lighthouse_`.
 */
export function createMetrics(daemon: 'writer' | 'reporter') {
  // No `daemon` label on every series: a scrape target is one daemon, so it only
  // repeated what the job says. lighthouse_build_info carries it, for joins.
  const registry = new Registry();
  // The event-loop lag monitor wakes the process every `precision` ms; at the
  // default 10 ms that was ~0.6 % of a core of an otherwise idle writer.
  // Sampling every 100 ms still measures lag of any size, only less often.
  collectDefaultMetrics({ register: registry, prefix: 'lighthouse_process_', eventLoopMonitoringPrecision: 100 });
  const sessionState = new Gauge({ name: 'lighthouse_discovery_connected', help: '1 while the discovery session is connected', labelNames: ['discovery'], registers: [registry] });
  const sessions = new Counter({ name: 'lighthouse_discovery_sessions_total', help: 'discovery sessions established (a new one after each expiry)', labelNames: ['discovery'], registers: [registry] });
  const stateChanges = new Counter({ name: 'lighthouse_discovery_state_changes_total', help: 'discovery session state changes, by new state', labelNames: ['discovery', 'state'], registers: [registry] });
  const configProblems = new Gauge({ name: 'lighthouse_config_problems', help: 'config files currently rejected (their last good version stays in force)', registers: [registry] });
  // Always 1: the labels are the information (join on it to see which version runs where).
  const build = new Gauge({ name: 'lighthouse_build_info', help: 'the package and version of this daemon and the Node.js running it (always 1)', labelNames: ['package', 'version', 'node', 'daemon'], registers: [registry] });
  build.set({ package: buildInfo().name, version: buildInfo().version, node: process.version, daemon }, 1);
  return { registry, sessionState, sessions, stateChanges, configProblems };
}

export function createWriterMetrics() {
  const base = createMetrics('writer');
  const { registry } = base;
  return {
    ...base,
    members: new Gauge({ name: 'lighthouse_cluster_members', help: 'members per cluster as last listed by discovery (held members not included)', labelNames: ['cluster'], registers: [registry] }),
    rejectedNodes: new Gauge({ name: 'lighthouse_cluster_rejected_nodes', help: 'nodes of a cluster rejected as malformed', labelNames: ['cluster'], registers: [registry] }),
    heldMembers: new Gauge({ name: 'lighthouse_cluster_held_members', help: 'members the removal guard keeps routed although discovery no longer lists them', labelNames: ['cluster'], registers: [registry] }),
    holdsStarted: new Counter({ name: 'lighthouse_removal_holds_total', help: 'removal-guard holds started (discovery listed too few members at once)', labelNames: ['cluster'], registers: [registry] }),
    membershipChanges: new Counter({ name: 'lighthouse_membership_changes_total', help: 'member set changes received from discovery', labelNames: ['cluster'], registers: [registry] }),
    syncs: new Counter({ name: 'lighthouse_balancer_syncs_total', help: 'balancer syncs, by result', labelNames: ['balancer', 'result'], registers: [registry] }),
    syncDuration: new Histogram({ name: 'lighthouse_balancer_sync_duration_seconds', help: 'time to bring the balancer in line with the desired state', labelNames: ['balancer'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
    lastSync: new Gauge({ name: 'lighthouse_last_sync_timestamp_seconds', help: 'when every balancer was last brought in line with the desired state (Unix time); absent until the first sync', registers: [registry] }),
    ackWrites: new Counter({ name: 'lighthouse_ack_writes_total', help: 'writes of this writer\'s acknowledgement record (what its balancers run) to discovery, by result', labelNames: ['discovery', 'result'], registers: [registry] }),
    convergence: new Histogram({ name: 'lighthouse_convergence_seconds', help: 'time from a member set arriving from discovery to the balancer applying it', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
  };
}

export type WriterMetrics = ReturnType<typeof createWriterMetrics>;

export function createReporterMetrics() {
  const base = createMetrics('reporter');
  const { registry } = base;
  const checkRuns = new DeferredCounts<'service' | 'port' | 'check' | 'result'>();
  return {
    ...base,
    checks: checkRuns.attach(new Counter({ name: 'lighthouse_checks_total', help: 'health check runs, by result', labelNames: ['service', 'port', 'check', 'result'], registers: [registry], collect: () => checkRuns.flush() })),
    /** the hot path's increments of `checks`, added to it when it is read */
    checkRuns,
    checkUp: new Gauge({ name: 'lighthouse_check_up', help: '1 while a check of a service port is up by its rise/fall verdict, 0 while down', labelNames: ['service', 'port', 'check'], registers: [registry] }),
    checkDuration: new Histogram({ name: 'lighthouse_check_duration_seconds', help: 'health check duration', labelNames: ['service', 'check'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] }),
    registered: new Gauge({ name: 'lighthouse_registrations', help: '1 while a service port is registered in discovery, 0 while it is not (sum by service: its registered ports)', labelNames: ['service', 'port'], registers: [registry] }),
    transitions: new Counter({ name: 'lighthouse_service_transitions_total', help: 'up/down transitions of service ports', labelNames: ['service', 'to'], registers: [registry] }),
    conflicting: new Gauge({ name: 'lighthouse_registration_conflicts', help: 'ports of a service whose registration another discovery session keeps taking: this reporter stopped taking them back', labelNames: ['service'], registers: [registry] }),
    conflicts: new Counter({ name: 'lighthouse_registration_conflicts_total', help: 'registration conflicts detected (another session took the same node again and again)', labelNames: ['service'], registers: [registry] }),
    handoverStalled: new Gauge({ name: 'lighthouse_handover_stalled', help: '1 while a service moving to a new discovery session has not registered there past its deadline (the old session keeps its registrations)', labelNames: ['service'], registers: [registry] }),
  };
}

export type ReporterMetrics = ReturnType<typeof createReporterMetrics>;
