import type { Logger } from '../lib/logger.js';
import type { Result } from '../lib/result.js';
import { encodeNode } from './codec.js';
import { nodeKey, type ClusterNode } from './node.js';
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
}

/**
 * Turns a backend's decoded children into member sets, the same way for every
 * backend: HAProxy server names are host:port, so two children whose data
 * name the same host:port cannot both be members (the one whose name matches
 * wins); malformed children are rejected and logged once per version; a set
 * equal to the last one is not reported again.
 */
export class MemberSetReporter {
  private lastFingerprint: string | undefined;
  private readonly loggedRejections = new Map<string, bigint>();

  constructor(
    private readonly cluster: string,
    private readonly logger: Logger,
    private readonly onMembers: (set: MemberSet) => void,
  ) {}

  report(children: readonly DecodedChild[]): void {
    const sorted = [...children].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const owner = new Map<string, DecodedChild>();
    for (const child of sorted) {
      if (!child.node.ok) continue;
      const key = nodeKey(child.node.value);
      const holder = owner.get(key);
      if (holder === undefined || (child.name === key && holder.name !== key)) owner.set(key, child);
    }
    const members: ClusterNode[] = [];
    const encoded: string[] = [];
    const rejected: RejectedNode[] = [];
    const present = new Set<string>();
    for (const child of sorted) {
      present.add(child.path);
      let reason: string;
      if (child.node.ok) {
        const holder = owner.get(nodeKey(child.node.value))!;
        if (holder === child) {
          members.push(child.node.value);
          encoded.push(child.encoded ?? encodeNode(child.node.value));
          this.loggedRejections.delete(child.path);
          continue;
        }
        reason = `its data names ${nodeKey(child.node.value)}, which ${holder.path} already provides`;
      } else {
        reason = child.node.error;
      }
      rejected.push({ znode: child.path, reason });
      if (this.loggedRejections.get(child.path) !== child.version) {
        this.loggedRejections.set(child.path, child.version);
        this.logger.warn({ code: 'LH_NODE_INVALID', znode: child.path, cluster: this.cluster }, `${child.path}: rejected node: ${reason}`);
      }
    }
    for (const path of this.loggedRejections.keys()) if (!present.has(path)) this.loggedRejections.delete(path);
    const fingerprint = JSON.stringify([encoded, rejected]);
    if (fingerprint === this.lastFingerprint) return;
    this.lastFingerprint = fingerprint;
    try {
      this.onMembers({ cluster: this.cluster, members, rejected });
    } catch (error) {
      this.logger.error({ err: error, cluster: this.cluster }, 'member set listener failed');
    }
  }
}
