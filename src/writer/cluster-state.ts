import { encodeNodeCached } from '../discovery/codec.js';
import { membersByKey } from '../discovery/member-dedupe.js';
import { nodeKeyCached, type ClusterNode } from '../discovery/node.js';
import type { MemberSet, RejectedNode } from '../discovery/types.js';
import { DEFAULT_REMOVAL_GUARD, RemovalGuard, type Hold, type RemovalGuardSettings } from './removal-guard.js';

export interface ClusterState {
  cluster: string;
  /** what the balancer routes: the listed members plus any held ones */
  members: readonly ClusterNode[];
  rejected: readonly RejectedNode[];
  /** members discovery listed last (held ones are not listed) */
  listed: number;
  /** members discovery no longer lists that the removal guard keeps routed */
  held: readonly ClusterNode[];
  hold: Hold | undefined;
  /** bumped on every effective change; 0 = never heard from discovery */
  revision: number;
  updatedAt: number | undefined;
}

/**
 * Why the routed members changed: a new set from discovery, an operator's
 * `release-hold`, held members that did not answer their probes, or new
 * removal-guard settings.
 */
export type ChangeCause = 'discovery' | 'operator-release' | 'probe-failed' | 'guard-settings';

export interface MemberChange {
  cluster: string;
  added: ClusterNode[];
  removed: ClusterNode[];
  changed: ClusterNode[];
  revision: number;
}

/**
 * The latest member set of every watched cluster. Policy lives here, not in
 * discovery plugins: duplicates are collapsed, identical sets are ignored,
 * and nothing is ever cleared because discovery went away — only a member
 * set reported by a live session replaces the last known one.
 */
export class ClusterStateStore {
  private readonly states = new Map<string, ClusterState>();
  /** members of each state by host:port */
  private readonly indexes = new Map<string, Map<string, ClusterNode>>();
  private readonly guards = new Map<string, RemovalGuard>();
  /** the last set discovery reported, to decide again when a hold is released or the guard reconfigured */
  private readonly lastSets = new Map<string, MemberSet>();
  /** held members found dead: not held again until the hold ends */
  private readonly dropped = new Map<string, Set<string>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly guardDefaults: RemovalGuardSettings = DEFAULT_REMOVAL_GUARD,
  ) {}

  /** Records a member set; returns what changed, or undefined when nothing did. */
  update(set: MemberSet): MemberChange | undefined {
    this.lastSets.set(set.cluster, set);
    const previous = this.states.get(set.cluster);
    const listed = dedupe(set.members);
    // The previous set's index is kept, not rebuilt: a change costs one pass over the new set.
    const before = this.indexes.get(set.cluster) ?? new Map<string, ClusterNode>();
    const change: MemberChange = { cluster: set.cluster, added: [], removed: [], changed: [], revision: previous?.revision ?? 0 };
    for (const [key, node] of before) if (!listed.has(key)) change.removed.push(node);
    // The guard only counts; merging held members back in happens on a hold alone, off the normal path.
    const guard = this.guard(set.cluster);
    let after = listed;
    let held: ClusterNode[] = [];
    if (guard.assess(listed.size, change.removed.length)) {
      const dead = this.dropped.get(set.cluster);
      held = dead ? change.removed.filter((node) => !dead.has(nodeKeyCached(node))) : change.removed;
      change.removed = dead ? change.removed.filter((node) => dead.has(nodeKeyCached(node))) : [];
      if (held.length > 0) after = sortedByKey([...listed.values(), ...held]);
      // Every held member was found dead: the drop is real.
      else guard.release(listed.size);
    } else {
      this.dropped.delete(set.cluster);
    }
    const members = [...after.values()];
    for (const [key, node] of after) {
      const old = before.get(key);
      if (!old) change.added.push(node);
      // Discovery hands back the same object for a child it did not re-read:
      // comparing identity first keeps a change in a 1,000-node cluster from
      // re-encoding all 1,000 nodes (~10 ms here).
      else if (old !== node && encodeNodeCached(old) !== encodeNodeCached(node)) change.changed.push(node);
    }
    const firstReport = previous === undefined || previous.revision === 0;
    const membersChanged = change.added.length + change.removed.length + change.changed.length > 0;
    const rejectedChanged = JSON.stringify(previous?.rejected ?? []) !== JSON.stringify(set.rejected);
    const holdChanged = previous?.hold !== guard.hold || previous?.listed !== listed.size || previous.held.length !== held.length;
    if (!membersChanged && !firstReport) {
      if ((rejectedChanged || holdChanged) && previous) this.states.set(set.cluster, { ...previous, rejected: set.rejected, listed: listed.size, held, hold: guard.hold });
      return undefined;
    }
    this.indexes.set(set.cluster, after);
    change.revision += 1;
    this.states.set(set.cluster, { cluster: set.cluster, members, rejected: set.rejected, listed: listed.size, held, hold: guard.hold, revision: change.revision, updatedAt: this.now() });
    return change;
  }

  get(cluster: string): ClusterState {
    return this.states.get(cluster) ?? { cluster, members: [], rejected: [], listed: 0, held: [], hold: undefined, revision: 0, updatedAt: undefined };
  }

  /** Sets a cluster's removal guard; a hold the new settings no longer justify ends at once (returned as a change). */
  configureGuard(cluster: string, settings: RemovalGuardSettings): MemberChange | undefined {
    const guard = this.guard(cluster);
    if (sameSettings(guard.config, settings)) return undefined;
    guard.configure(settings);
    return guard.hold ? this.decideAgain(cluster) : undefined;
  }

  /** An operator says the drop is real: the held members are removed. */
  release(cluster: string): MemberChange | undefined {
    const guard = this.guards.get(cluster);
    if (!guard?.hold) return undefined;
    guard.release(guard.hold.listed);
    return this.decideAgain(cluster);
  }

  /** Held members that do not answer are removed; the rest stay held. */
  dropHeld(cluster: string, keys: readonly string[]): MemberChange | undefined {
    if (keys.length === 0 || !this.guards.get(cluster)?.hold) return undefined;
    const dead = this.dropped.get(cluster) ?? new Set<string>();
    for (const key of keys) dead.add(key);
    this.dropped.set(cluster, dead);
    return this.decideAgain(cluster);
  }

  private decideAgain(cluster: string): MemberChange | undefined {
    const set = this.lastSets.get(cluster);
    return set ? this.update(set) : undefined;
  }

  private guard(cluster: string): RemovalGuard {
    let guard = this.guards.get(cluster);
    if (!guard) {
      guard = new RemovalGuard(this.guardDefaults, this.now);
      this.guards.set(cluster, guard);
    }
    return guard;
  }

  /**
   * Starts a cluster from members remembered by an earlier run (revision 0:
   * discovery has not spoken yet). The first real report replaces them.
   */
  seed(cluster: string, members: readonly ClusterNode[]): void {
    if (this.states.has(cluster)) return;
    const after = dedupe(members);
    this.indexes.set(cluster, after);
    // What the balancer already routes counts as recently listed: an empty first report is a drop like any other.
    this.guard(cluster).seed(after.size);
    this.states.set(cluster, { cluster, members: [...after.values()], rejected: [], listed: after.size, held: [], hold: undefined, revision: 0, updatedAt: undefined });
  }

  /** Forgets a cluster that is no longer configured. */
  forget(cluster: string): void {
    this.states.delete(cluster);
    this.indexes.delete(cluster);
    this.guards.delete(cluster);
    this.lastSets.delete(cluster);
    this.dropped.delete(cluster);
  }

  all(): ClusterState[] {
    return [...this.states.values()];
  }
}

/**
 * Same host:port reported twice (e.g. two znodes for one instance): keep the
 * one discovery's rule keeps (member-dedupe.ts), in a stable order (by
 * host:port). Discovery usually reports the set sorted and without duplicates
 * already (znode names are host:port): then one pass checks it and no sort is
 * needed.
 */
function dedupe(nodes: readonly ClusterNode[]): Map<string, ClusterNode> {
  let ordered = true;
  let last: string | undefined;
  const byKey = membersByKey(nodes, (node) => {
    const key = nodeKeyCached(node);
    if (ordered && last !== undefined && !(last < key)) ordered = false;
    last = key;
    return key;
  });
  if (ordered) return byKey;
  return new Map([...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sortedByKey(nodes: readonly ClusterNode[]): Map<string, ClusterNode> {
  return new Map(nodes.map((node): [string, ClusterNode] => [nodeKeyCached(node), node]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sameSettings(a: RemovalGuardSettings, b: RemovalGuardSettings): boolean {
  return a.enabled === b.enabled && a.minMembers === b.minMembers && a.panicThreshold === b.panicThreshold && a.windowMs === b.windowMs && a.probeHeld === b.probeHeld;
}
