import { nodeKeyCached, type ClusterNode } from '../discovery/node.js';
import type { ChangeCause, MemberChange } from '../writer/cluster-state.js';
import type { Hold } from '../writer/removal-guard.js';
import type { DashboardChange, MemberHealth } from '../writer/dashboard-state.js';

/**
 * Said of a member that discovery stopped listing: its reporter deregistered
 * it (stopped, drained, failing its checks) or its session ended. The
 * registration is simply gone; nothing in discovery says which.
 */
export const LEFT_DISCOVERY = 'left discovery (deregistered by its reporter: stopped, drained or failing its checks; or its session ended): the writer cannot tell which';

const REMOVED_BECAUSE: Record<Exclude<ChangeCause, 'discovery'>, string> = {
  'operator-release': 'was held; released by an operator (lighthouse release-hold)',
  'probe-failed': 'was held; did not answer on its port (the writer probes held members)',
  'guard-settings': 'was held; the changed removal_guard settings no longer hold it',
};

/** Health changes of more members than this in one sample become one entry. */
const MAX_HEALTH_ENTRIES = 5;

/** One member whose health the balancer's own checks changed between two samples. */
export interface HealthMove {
  node: string;
  from: { status: string; health: MemberHealth };
  to: { status: string; health: MemberHealth; check: string | null };
}

/** A cluster as one sync applied it. */
export interface AppliedCluster {
  name: string;
  members: readonly ClusterNode[];
  held: readonly ClusterNode[];
  hold: Hold | undefined;
  /** 0: discovery has not answered yet (members from the last run) */
  revision: number;
}

interface Known {
  members: readonly ClusterNode[];
  heldList: readonly ClusterNode[];
  keys: ReadonlySet<string>;
  held: ReadonlySet<string>;
}

/**
 * The dashboard's list of changes, each with its reason. Changes are
 * recorded from what each sync applied (what HAProxy was told, not every
 * intermediate discovery event); the writer's change events in between only
 * leave the cause of each removal behind.
 */
export class ChangeLog {
  private readonly entries: DashboardChange[] = [];
  private known = new Map<string, Known>();
  private synced = false;
  /** `cluster\0node` -> why the writer removed it, since the last sync */
  private readonly causes = new Map<string, ChangeCause>();

  constructor(private readonly max = 50) {}

  noteCause(change: MemberChange, cause: ChangeCause): void {
    for (const node of change.removed) this.causes.set(`${change.cluster}\0${nodeKeyCached(node)}`, cause);
  }

  /** Compares each cluster with the last sync; only clusters with a new member list cost more than a lookup. */
  recordSync(clusters: readonly AppliedCluster[], at: number): void {
    const next = new Map<string, Known>();
    for (const cluster of clusters) {
      const before = this.known.get(cluster.name);
      if (before && before.members === cluster.members && before.heldList === cluster.held) {
        next.set(cluster.name, before);
        continue;
      }
      const keys = new Set(cluster.members.map(nodeKeyCached));
      const held = new Set(cluster.held.map(nodeKeyCached));
      next.set(cluster.name, { members: cluster.members, heldList: cluster.held, keys, held });
      const added = addedReason(cluster, before !== undefined, this.synced);
      for (const key of keys) {
        if (!before?.keys.has(key)) this.push({ at, cluster: cluster.name, change: 'added', node: key, reason: held.has(key) ? `${added}; held by the removal guard` : added });
        else if (held.has(key) && !before.held.has(key)) this.push({ at, cluster: cluster.name, change: 'held', node: key, reason: heldReason(cluster.hold) });
        else if (!held.has(key) && before.held.has(key)) this.push({ at, cluster: cluster.name, change: 'listed', node: key, reason: 'listed by discovery again; no longer held' });
      }
      for (const key of before?.keys ?? []) {
        if (keys.has(key)) continue;
        const cause = this.causes.get(`${cluster.name}\0${key}`) ?? 'discovery';
        const reason = cause !== 'discovery' ? REMOVED_BECAUSE[cause] : before?.held.has(key) ? 'was held; released: discovery lists enough members again (this one is still not listed)' : LEFT_DISCOVERY;
        this.push({ at, cluster: cluster.name, change: 'removed', node: key, reason });
      }
    }
    for (const [name, before] of this.known) {
      if (!next.has(name)) this.push({ at, cluster: name, change: 'removed', node: `all ${before.keys.size} members`, reason: 'cluster removed from the config' });
    }
    this.known = next;
    this.causes.clear();
    this.synced = true;
  }

  /**
   * The balancer's health of members moved (its own checks): `UP -> DOWN:
   * its health check failed (L4CON Connection refused)`. Many at once (a
   * backend's dependency down) are one entry, so they do not push every
   * membership change out of the list.
   */
  recordHealth(at: number, cluster: string, moves: readonly HealthMove[]): void {
    if (moves.length === 0) return;
    if (moves.length > MAX_HEALTH_ENTRIES) {
      const counts = new Map<string, number>();
      for (const move of moves) {
        const words = `${move.from.status} \u2192 ${move.to.status}`;
        counts.set(words, (counts.get(words) ?? 0) + 1);
      }
      const summary = [...counts].map(([words, count]) => `${count} ${words}`).join(', ');
      this.push({ at, cluster, change: 'health', node: `${moves.length} members`, reason: `balancer: ${summary}` });
      return;
    }
    for (const { node, from, to } of moves) {
      const said = to.health === 'down' && to.check ? ` (${to.check})` : '';
      const why = to.health === 'down' ? 'its health check failed' : to.health === 'up' ? 'its health check passes' : to.health === 'maintenance' ? 'in maintenance' : to.health === 'draining' ? 'draining' : 'not checked';
      this.push({ at, cluster, change: 'health', node, reason: `balancer: ${from.status} \u2192 ${to.status}: ${why}${said}` });
    }
  }

  /** Newest first. */
  list(): DashboardChange[] {
    return [...this.entries];
  }

  private push(change: Omit<DashboardChange, 'at'> & { at: number }): void {
    this.entries.unshift({ ...change, at: new Date(change.at).toISOString() });
    this.entries.length = Math.min(this.entries.length, this.max);
  }
}

function addedReason(cluster: AppliedCluster, knownBefore: boolean, synced: boolean): string {
  if (knownBefore) return 'registered: discovery lists it';
  if (cluster.revision === 0) return 'routed at start from the last known members (discovery has not answered yet)';
  return synced ? 'cluster added to the config; discovery lists it' : 'discovery lists it (writer started)';
}

function heldReason(hold: Hold | undefined): string {
  const numbers = hold ? `: discovery lists ${hold.listed} of ${hold.reference} recently listed, below the floor of ${Number.isInteger(hold.floor) ? hold.floor : hold.floor.toFixed(1)}` : '';
  return `left discovery; the removal guard keeps it routed${numbers}`;
}

/** HAProxy's status words, as an operator reads them: `no check` is not healthy, it is unknown. */
export function memberHealth(status: string | null): MemberHealth {
  if (status === null) return 'unknown';
  const word = status.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
  if (word === 'UP') return 'up';
  if (word === 'DOWN') return 'down';
  if (word === 'MAINT') return 'maintenance';
  // NOLB: up, but takes no new traffic (like a drain)
  if (word === 'DRAIN' || word === 'NOLB') return 'draining';
  return 'unknown';
}
