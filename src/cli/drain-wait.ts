import type { DiscoveryItem } from '../config/model.js';
import { memberDigest } from '../discovery/ack-record.js';
import { nodeKey } from '../discovery/node.js';
import type { Discovery, MemberSet } from '../discovery/types.js';
import { sleep } from '../lib/deadline.js';
import { readFrom } from './fleet-view.js';

/**
 * `drain --wait` / `undrain --wait`: the member set discovery lists after
 * the drain file changed, then every live writer consuming the cluster
 * acknowledging it (docs/fleet-safety.md).
 */
export interface AckWaitTarget {
  cluster: string;
  /** host:port of the drained (or undrained) ports */
  nodes: string[];
  /** drain: the nodes must be gone; undrain: they must be listed */
  want: 'absent' | 'present';
}

export interface WriterVerdict {
  writer: string;
  acknowledged: boolean;
  /** why not, for the message */
  reason?: string;
}

export type AckWaitOutcome =
  | { ok: true; version: string | undefined; writers: WriterVerdict[] }
  | { ok: false; stage: 'discovery'; message: string }
  | { ok: false; stage: 'writers'; version: string | undefined; writers: WriterVerdict[] };

/** Starts watching the cluster; call before changing the drain file, so the change is seen as an event. */
export function watchCluster(discovery: Discovery, cluster: string): { latest(): MemberSet | undefined; close(): void } {
  let latest: MemberSet | undefined;
  discovery.connect();
  const watch = discovery.watch(cluster, (set) => {
    latest = set;
  });
  return { latest: () => latest, close: () => watch.close() };
}

function satisfied(set: MemberSet, target: AckWaitTarget): boolean {
  const listed = new Set(set.members.map(nodeKey));
  return target.want === 'absent' ? target.nodes.every((node) => !listed.has(node)) : target.nodes.every((node) => listed.has(node));
}

/**
 * Waits until discovery lists the wanted set, then until every writer that
 * acknowledges the cluster runs a set at least that new (or the same set),
 * without holding the nodes (drain) and with no sessions left on them
 * (drain). A writer whose record vanishes during the wait has not
 * acknowledged: its HAProxy may still route to the node.
 */
export async function waitForAcks(
  discovery: Discovery,
  item: Pick<DiscoveryItem, 'name' | 'file'>,
  watch: { latest(): MemberSet | undefined },
  target: AckWaitTarget,
  timeoutMs: number,
  pollMs = 500,
): Promise<AckWaitOutcome> {
  const deadline = Date.now() + timeoutMs;
  let wanted: MemberSet | undefined;
  while (Date.now() < deadline) {
    const set = watch.latest();
    if (set && satisfied(set, target)) {
      wanted = set;
      break;
    }
    await sleep(50);
  }
  if (!wanted) {
    const set = watch.latest();
    const state = set ? `discovery still ${target.want === 'absent' ? 'lists' : 'does not list'} ${target.nodes.join(', ')}` : `discovery "${item.name}" did not answer (state ${discovery.state})`;
    return { ok: false, stage: 'discovery', message: `${item.file}: cluster "${target.cluster}": ${state} after ${Math.round(timeoutMs / 1000)} s (is the reporter running${target.want === 'present' ? ' and are the checks passing' : ''}?)` };
  }
  const version = wanted.version;
  const digest = memberDigest(wanted.members);
  // Keyed by record, not by writer name: two records naming one writer (two machines sharing a host name and state folder) are two HAProxys.
  const seen = new Map<string, WriterVerdict>();
  for (;;) {
    const read = await readFrom(discovery, item, Math.max(1, Math.min(deadline - Date.now(), 5_000))).catch(() => undefined);
    if (read && read.problems.every((problem) => !problem.includes('cannot read'))) {
      const live = new Set<string>();
      for (const { record, ack } of read.records) {
        const entry = ack.clusters[target.cluster];
        if (!entry) continue;
        live.add(record);
        const newEnough = entry.version !== null && version !== undefined ? BigInt(entry.version) >= BigInt(version) : false;
        const reasons: string[] = [];
        if (!newEnough && entry.digest !== digest) reasons.push(`runs version ${entry.version ?? 'none'}, not yet ${version ?? 'the new member set'}`);
        if (target.want === 'absent') {
          const held = target.nodes.filter((node) => entry.held.includes(node));
          if (held.length > 0) reasons.push(`holds ${held.join(', ')} (removal guard; see lighthouse release-hold)`);
          const sessions = target.nodes.filter((node) => (entry.draining[node] ?? 0) > 0).map((node) => `${entry.draining[node]} sessions on ${node}`);
          if (sessions.length > 0) reasons.push(`still has ${sessions.join(', ')}`);
        }
        seen.set(record, { writer: ack.writer, acknowledged: reasons.length === 0, ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}) });
      }
      // A record this Lighthouse cannot read may be a newer writer's: its HAProxy is live and unaccounted for, so it cannot count as acknowledged.
      for (const { record, error, clusters } of read.unreadable) {
        if (clusters !== undefined && !clusters.includes(target.cluster)) continue;
        live.add(record);
        const why = error.includes('LH_ACK_TOO_LARGE') ? error : `a record this Lighthouse cannot read (${error}): a writer of a newer Lighthouse, or not a writer's record (then delete it)`;
        seen.set(record, { writer: record, acknowledged: false, reason: why });
      }
      for (const [record, verdict] of seen) {
        if (!live.has(record)) seen.set(record, { writer: verdict.writer, acknowledged: false, reason: `its record vanished (writer stopped, frozen or cut off from discovery): its HAProxy may still ${target.want === 'absent' ? 'route to' : 'not route to'} ${target.nodes.join(', ')}` });
      }
      const writers = [...seen.values()].sort((a, b) => (a.writer < b.writer ? -1 : 1));
      if (writers.every((writer) => writer.acknowledged)) return { ok: true, version, writers };
      if (Date.now() >= deadline) return { ok: false, stage: 'writers', version, writers };
    } else if (Date.now() >= deadline) {
      return { ok: false, stage: 'writers', version, writers: [...seen.values()].map((verdict) => (verdict.acknowledged ? verdict : { ...verdict, reason: `${verdict.reason ?? ''} (and discovery stopped answering)` })) };
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
  }
}
