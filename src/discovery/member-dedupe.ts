/**
 * The one rule for two entries that name the same host:port. HAProxy server
 * names are host:port, so only one of them can be a member: the entry whose
 * own name is that host:port (a znode or key named for what it holds), else
 * the first one in the order given. Discovery hands its children over sorted
 * by name, so "first" is stable from one report to the next; the others are
 * duplicates, which discovery rejects and logs with their path (LH_NODE_INVALID).
 *
 * Used by discovery (member-set-builder.ts) on every change of a cluster and by
 * the writer's cluster state on whatever reaches it another way (members
 * remembered from an earlier run, a plugin's own member set).
 *
 * `keyOf` returns undefined for an entry that is no member at all (malformed).
 * Returns each host:port's member, in the order each host:port first appeared.
 */
export function membersByKey<T>(entries: readonly T[], keyOf: (entry: T, index: number) => string | undefined, nameOf?: (entry: T) => string): Map<string, T> {
  const owner = new Map<string, T>();
  entries.forEach((entry, index) => {
    const key = keyOf(entry, index);
    if (key === undefined) return;
    const holder = owner.get(key);
    if (holder === undefined || (nameOf !== undefined && nameOf(entry) === key && nameOf(holder) !== key)) owner.set(key, entry);
  });
  return owner;
}
