import { skeletonHash, type LiveState } from './live-state.js';
import type { RenderedConfig, RenderedServer } from './render.js';

export type RuntimeOp =
  | { kind: 'add'; backend: string; server: RenderedServer }
  /** a server being removed is wanted again: stop deleting it, fix its address, enable it */
  | { kind: 'restore'; backend: string; server: RenderedServer }
  | { kind: 'set-addr'; backend: string; server: RenderedServer }
  | { kind: 'set-weight'; backend: string; server: RenderedServer }
  /**
   * Disable, then delete once drained. `readd`: the server is wanted with
   * the other role (backup or not, which 2.6 cannot change on a server): the
   * sync after its deletion adds it again with the role it must have.
   */
  | { kind: 'remove'; backend: string; server: string; readd?: boolean };

export interface Plan {
  /** a reload is needed (after the runtime ops, which make the change visible sooner where they can) */
  reload: boolean;
  /** why, for the log */
  reasons: string[];
  /** adds, restores and address changes first, removals last: make before break */
  ops: RuntimeOp[];
}

/** Section headers (`backend web`, ...) whose blocks differ between two skeletons, for the log. */
export function structuralDifferences(before: string | undefined, after: string): string[] {
  if (before === undefined) return ['the running configuration is not known'];
  const blocks = (text: string): Map<string, string> => {
    const map = new Map<string, string>();
    let header = '';
    for (const line of text.split('\n')) {
      if (line !== '' && !line.startsWith(' ') && !line.startsWith('#')) header = line;
      map.set(header, `${map.get(header) ?? ''}${line}\n`);
    }
    return map;
  };
  const a = blocks(before);
  const b = blocks(after);
  const reasons: string[] = [];
  for (const [header, text] of b) {
    if (!a.has(header)) reasons.push(`"${header}" added`);
    else if (a.get(header) !== text) reasons.push(`"${header}" changed`);
  }
  for (const header of a.keys()) if (!b.has(header)) reasons.push(`"${header}" removed`);
  return reasons;
}

/**
 * What it takes to go from the running worker's state to `desired`. Pure, so
 * the membership-only vs structural decision is unit-tested without HAProxy.
 * `liveSkeleton` is the loaded skeleton text when known (only for the log).
 */
export function computePlan(live: LiveState | undefined, desired: RenderedConfig, liveSkeleton?: string): Plan {
  if (!live) return { reload: true, reasons: ['the running configuration is not known'], ops: [] };
  const reasons: string[] = [];
  if (live.skeletonHash !== skeletonHash(desired)) {
    const differences = structuralDifferences(liveSkeleton, desired.skeleton);
    reasons.push(`structure changed: ${differences.join(', ') || 'sections differ'}`);
  }
  const upserts: RuntimeOp[] = [];
  const removals: RuntimeOp[] = [];
  for (const [name, backend] of desired.backends) {
    const current = live.backends.get(name);
    // A backend the worker does not have arrives with the reload the structural change already asks for.
    if (!current) continue;
    if (current.isMatched(backend)) continue;
    const opsBefore = upserts.length + removals.length;
    const refused = current.runtime === undefined ? 'the running configuration of this backend is not known' : current.runtime.staticReason;
    const needAdd: string[] = [];
    const roleChanges: RenderedServer[] = [];
    /** active servers serving once this plan's upserts are applied (role changes left out) */
    let activeAfter = 0;
    let waiting = false;
    let present = 0;
    for (const server of backend.servers) {
      const running = current.servers.get(server.name);
      if (!running) {
        if (refused) needAdd.push(server.name);
        else {
          upserts.push({ kind: 'add', backend: name, server });
          if (!server.backup) activeAfter += 1;
        }
        continue;
      }
      present += 1;
      const otherRole = running.backup !== undefined && running.backup !== server.backup;
      if (running.removing) {
        // Being deleted to change role: the sync after its deletion adds it
        // back. Asked again, so a deletion a previous writer left half done
        // (an adopted server in maintenance) is finished; one under way goes on.
        if (otherRole) {
          waiting = true;
          removals.push({ kind: 'remove', backend: name, server: server.name, readd: true });
        } else {
          upserts.push({ kind: 'restore', backend: name, server });
          if (!server.backup) activeAfter += 1;
        }
        continue;
      }
      if (otherRole) {
        if (refused) needAdd.push(`${server.name} (as ${server.backup ? 'a backup' : 'an active'} server)`);
        else roleChanges.push(server);
        continue;
      }
      if (!server.backup) activeAfter += 1;
      if (running.ip !== server.ip || running.port !== server.port) upserts.push({ kind: 'set-addr', backend: name, server });
      if (running.weight !== server.weight) upserts.push({ kind: 'set-weight', backend: name, server });
    }
    if (needAdd.length > 0) reasons.push(`backend "${name}" gets ${needAdd.join(', ')} through a reload: ${refused}`);
    // A role change takes its server out for a moment. With no active server
    // left, the backups carry every request (`option allbackups`): half of
    // them change first and the rest after those are back, so the backend
    // never has nothing to send to; a lone backup stays as it is until an
    // active server is there (it already takes every request meanwhile).
    const changeNow = activeAfter === 0 ? roleChanges.slice(0, Math.floor(roleChanges.length / 2)) : roleChanges;
    if (changeNow.length < roleChanges.length) waiting = true;
    for (const server of changeNow) removals.push({ kind: 'remove', backend: name, server: server.name, readd: true });
    // Every running server is wanted (the common case: most backends did not change): nothing to remove.
    if (present !== current.servers.size) {
      const wanted = new Set(backend.servers.map((server) => server.name));
      for (const server of current.servers.values()) {
        if (!server.removing && !wanted.has(server.name)) removals.push({ kind: 'remove', backend: name, server: server.name });
      }
    }
    if (needAdd.length === 0 && !waiting && upserts.length + removals.length === opsBefore) current.markMatched(backend);
  }
  return { reload: reasons.length > 0, reasons, ops: [...upserts, ...removals] };
}
