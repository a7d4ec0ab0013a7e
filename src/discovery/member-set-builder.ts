import type { Logger } from '../lib/logger.js';
import type { Result } from '../lib/result.js';
import { encodeNodeCached } from './codec.js';
import { membersByKey } from './member-dedupe.js';
import { nodeKeyCached, type ClusterNode } from './node.js';
import type { MemberSet, RejectedNode } from './types.js';

/** One child of a cluster folder as a backend read it. */
export interface DecodedChild {
  /** name inside the cluster folder (`host:port` when well-formed) */
  name: string;
  /** full znode path or key, for logs and `rejected` */
  path: string;
  /** the child's data version (mzxid, mod revision): a rejection is logged once per version */
  version: bigint;
  node: Result<ClusterNode>;
  /** the node's wire encoding when the backend already has it */
  encoded?: string;
  /** the backend found the child named for the host:port its data holds (the usual case; see report) */
  nameIsKey?: boolean;
}

/**
 * Turns a backend's decoded children into member sets, the same way for every
 * backend: two children whose data name the same host:port cannot both be
 * members (member-dedupe.ts says which one is); malformed children and
 * duplicates are rejected and logged once per version; a set equal to the
 * last one is not reported again.
 */
export class MemberSetBuilder {
  private lastEncoded: readonly string[] | undefined;
  private lastRejected: readonly RejectedNode[] = [];
  private lastVersion: string | undefined;
  private readonly loggedRejections = new Map<string, bigint>();

  constructor(
    private readonly cluster: string,
    private readonly logger: Logger,
    private readonly onMembers: (set: MemberSet) => void,
  ) {}

  /**
   * Runs on every change of the cluster, over all its children: with 1,000
   * children it was ~1 ms of the writer's time per change when it compared
   * sets through a JSON fingerprint and computed every key twice, so the work
   * here is one sort and one pass.
   */
  report(children: readonly DecodedChild[], version?: bigint): void {
    const sorted = isSortedByName(children) ? children : [...children].sort(byName);
    const plain = plainMembers(sorted);
    if (plain) {
      this.loggedRejections.clear();
      this.deliver(plain.members, plain.encoded, [], version);
      return;
    }
    const keys = sorted.map((child) => (child.node.ok ? nodeKeyCached(child.node.value) : ''));
    const owner = membersByKey(sorted, (child, index) => (child.node.ok ? keys[index] : undefined), (child) => child.name);
    const members: ClusterNode[] = [];
    const encoded: string[] = [];
    const rejected: RejectedNode[] = [];
    sorted.forEach((child, index) => {
      let reason: string;
      if (child.node.ok) {
        const holder = owner.get(keys[index]!)!;
        if (holder === child) {
          members.push(child.node.value);
          encoded.push(child.encoded ?? encodeNodeCached(child.node.value));
          return;
        }
        reason = `its data names ${keys[index]!}, which ${holder.path} already provides`;
      } else {
        reason = child.node.error;
      }
      rejected.push({ znode: child.path, reason });
      if (this.loggedRejections.get(child.path) !== child.version) {
        this.loggedRejections.set(child.path, child.version);
        this.logger.warn({ code: 'LH_NODE_INVALID', znode: child.path, cluster: this.cluster }, `${child.path}: rejected node: ${reason}`);
      }
    });
    // A child that is fine again, or gone, is logged anew if it is rejected later.
    if (this.loggedRejections.size > rejected.length) {
      const stillRejected = new Set(rejected.map((entry) => entry.znode));
      for (const path of this.loggedRejections.keys()) if (!stillRejected.has(path)) this.loggedRejections.delete(path);
    }
    this.deliver(members, encoded, rejected, version);
  }

  private deliver(members: ClusterNode[], encoded: string[], rejected: RejectedNode[], version: bigint | undefined): void {
    const versionText = version?.toString();
    // A new version alone is reported too (a reporter's node re-created with the same data): writers acknowledge it.
    if (this.lastEncoded !== undefined && sameStrings(encoded, this.lastEncoded) && sameRejections(rejected, this.lastRejected) && versionText === this.lastVersion) return;
    this.lastEncoded = encoded;
    this.lastRejected = rejected;
    this.lastVersion = versionText;
    try {
      this.onMembers({ cluster: this.cluster, members, rejected, ...(versionText === undefined ? {} : { version: versionText }) });
    } catch (error) {
      this.logger.error({ err: error, cluster: this.cluster }, 'member set listener failed');
    }
  }
}

/**
 * Every child well-formed and named for the host:port its data holds: names
 * are unique in a folder, so no two can name the same host:port and there
 * is nothing to reject. The whole set is then two arrays, without the keys
 * and the owner map (a writer rebuilds its set on every change of the
 * cluster; in a fleet of a thousand writers that map was ~5 % of their CPU).
 */
function plainMembers(sorted: readonly DecodedChild[]): { members: ClusterNode[]; encoded: string[] } | undefined {
  const members: ClusterNode[] = [];
  const encoded: string[] = [];
  for (const child of sorted) {
    if (child.nameIsKey !== true || !child.node.ok) return undefined;
    members.push(child.node.value);
    encoded.push(child.encoded ?? encodeNodeCached(child.node.value));
  }
  return { members, encoded };
}

const byName = (a: DecodedChild, b: DecodedChild): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function isSortedByName(children: readonly DecodedChild[]): boolean {
  for (let index = 1; index < children.length; index += 1) if (children[index - 1]!.name > children[index]!.name) return false;
  return true;
}

/** Cached encodings are the same string objects from one report to the next, so this is mostly pointer compares. */
function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) if (a[index] !== b[index]) return false;
  return true;
}

function sameRejections(a: readonly RejectedNode[], b: readonly RejectedNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) if (a[index]!.znode !== b[index]!.znode || a[index]!.reason !== b[index]!.reason) return false;
  return true;
}
