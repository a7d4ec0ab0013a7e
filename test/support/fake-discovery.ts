import type { ClusterWatch, Discovery, DiscoveryEvents, SessionState } from '../../src/discovery/types.js';
import { nodeKey, type ClusterNode } from '../../src/discovery/node.js';
import { decodeNode, encodeNode } from '../../src/discovery/codec.js';

export interface FakeCall {
  op: 'publish' | 'unpublish' | 'isPublished';
  service: string;
  key: string;
  /** encoded node data (publish only) */
  data?: string;
  ok: boolean;
}

/**
 * An in-memory Discovery for unit tests of the reporter side: registrations
 * live in a map, a new session drops them (as an expired ZooKeeper session
 * drops its ephemerals) and fires onSession. Tests make writes fail, lose
 * nodes behind the runner's back and read every call made.
 */
export class FakeDiscovery implements Discovery {
  readonly name: string;
  state: SessionState = 'connecting';
  /** service -> `host:port` -> encoded data */
  readonly nodes = new Map<string, Map<string, string>>();
  readonly calls: FakeCall[] = [];
  /** while set, publish and unpublish reject (the backend is away) */
  failWrites = false;
  private events: DiscoveryEvents | undefined;
  private session = 0;

  constructor(name = 'zk') {
    this.name = name;
  }

  connect(events?: DiscoveryEvents): void {
    this.events = events;
    this.newSession();
  }

  /** Simulates expiry plus a new session: every registration is gone, onSession fires. */
  newSession(): void {
    this.session += 1;
    this.nodes.clear();
    this.state = 'connected';
    this.events?.onStateChange?.('connected');
    this.events?.onSession?.(`fake-session-${this.session}`);
  }

  /** Deletes a registration as another client (or an operator) would. */
  lose(service: string, key: string): void {
    this.nodes.get(service)?.delete(key);
  }

  /** The registered node, decoded through the real codec, or undefined. */
  registered(service: string, key: string): ClusterNode | undefined {
    const data = this.nodes.get(service)?.get(key);
    if (data === undefined) return undefined;
    const decoded = decodeNode(data);
    if (!decoded.ok) throw new Error(`fake discovery holds undecodable data for ${service}/${key}: ${decoded.error}`);
    return decoded.value;
  }

  keys(service: string): string[] {
    return [...(this.nodes.get(service)?.keys() ?? [])].sort();
  }

  count(op: FakeCall['op'], filter: { ok?: boolean; key?: string } = {}): number {
    return this.calls.filter((call) => call.op === op && (filter.ok === undefined || call.ok === filter.ok) && (filter.key === undefined || call.key === filter.key)).length;
  }

  watch(): ClusterWatch {
    throw new Error('FakeDiscovery does not implement watch (reporter-side fake)');
  }

  async publish(service: string, node: ClusterNode): Promise<void> {
    const key = nodeKey(node);
    const data = encodeNode(node);
    this.calls.push({ op: 'publish', service, key, data, ok: !this.failWrites });
    if (this.failWrites) throw new Error(`fake discovery ${this.name} is unavailable`);
    let folder = this.nodes.get(service);
    if (!folder) {
      folder = new Map();
      this.nodes.set(service, folder);
    }
    folder.set(key, data);
  }

  async unpublish(service: string, node: Pick<ClusterNode, 'host' | 'port'>): Promise<void> {
    const key = nodeKey(node);
    this.calls.push({ op: 'unpublish', service, key, ok: !this.failWrites });
    if (this.failWrites) throw new Error(`fake discovery ${this.name} is unavailable`);
    this.nodes.get(service)?.delete(key);
  }

  async isPublished(service: string, node: ClusterNode): Promise<boolean> {
    const key = nodeKey(node);
    this.calls.push({ op: 'isPublished', service, key, ok: true });
    return this.nodes.get(service)?.get(key) === encodeNode(node);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    this.nodes.clear();
  }
}
