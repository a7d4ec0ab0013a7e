import type { Etcd3 } from 'etcd3';
import type { Discovery, SessionState } from '../../src/discovery/types.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { ConnectionState, OPEN_ACL } from '../../src/discovery/zookeeper/zk-client.js';
import { isNoNode } from '../../src/discovery/zookeeper/zk-errors.js';
import type { Logger } from '../../src/lib/logger.js';
import { silentLogger } from '../../src/lib/logger.js';
import { EtcdServer, createEtcdDiscovery } from './etcd.js';
import { waitFor } from './wait-for.js';
import { connectClient, createDiscovery, mkdirs, TcpRelay, ZookeeperCluster } from './zookeeper.js';

/**
 * One discovery backend as the contract tests see it: a real server, the
 * plugin's Discovery built exactly as the daemons build it, and an admin
 * client that reads and writes raw bytes at `<base>/<service>/<name>` the way
 * another machine (or the original Lighthouse, or an attacker) would.
 */
export interface Backend {
  readonly kind: 'zookeeper' | 'etcd';
  /** the plugin's Discovery; `via` routes it through a relay, `short` makes its session/lease expire quickly */
  discovery(options?: { via?: TcpRelay; short?: boolean; logger?: Logger }): Discovery & { readonly state: SessionState };
  /** a relay in front of the server, for cutting one client off while the server keeps running */
  relay(): Promise<TcpRelay>;
  /** writes raw bytes as another client (ZooKeeper: an ephemeral of the admin session; etcd: a plain key) */
  write(service: string, name: string, data: Buffer | string): Promise<void>;
  /** raw bytes, or undefined when absent */
  read(service: string, name: string): Promise<Buffer | undefined>;
  remove(service: string, name: string): Promise<void>;
  /** an opaque id of who holds the registration (session or lease), undefined when absent */
  owner(service: string, name: string): Promise<string | undefined>;
  /** stops the server (data kept) */
  kill(): Promise<void>;
  /** starts it again on the same port and data */
  restart(): Promise<void>;
  /** closes every discovery, relay and client made here, and stops the server */
  stop(): Promise<void>;
}

/**
 * The admin client's first requests after a server restart can meet a
 * connection still in backoff: the test's own reads and writes retry until
 * they get through (the code under test gets no such help).
 */
async function retrying<T>(operation: () => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  await waitFor(async () => {
    result = { value: await operation() };
    return true;
  }, 'an etcd admin request', 10_000, 100);
  return result!.value;
}

export async function startBackend(kind: Backend['kind'], base: string): Promise<Backend> {
  return kind === 'zookeeper' ? ZookeeperBackend.start(base) : EtcdBackend.start(base);
}

abstract class Tracked {
  protected readonly discoveries: Discovery[] = [];
  protected readonly relays: TcpRelay[] = [];

  protected track<D extends Discovery>(discovery: D): D {
    this.discoveries.push(discovery);
    return discovery;
  }

  protected async closeTracked(): Promise<void> {
    await Promise.all(this.discoveries.map((discovery) => discovery.close().catch(() => undefined)));
    for (const relay of this.relays) await relay.close().catch(() => undefined);
  }
}

class ZookeeperBackend extends Tracked implements Backend {
  readonly kind = 'zookeeper';

  private constructor(
    private readonly zk: ZookeeperCluster,
    private admin: ZkClient,
    private readonly base: string,
  ) {
    super();
  }

  static async start(base: string): Promise<ZookeeperBackend> {
    const zk = await ZookeeperCluster.start();
    try {
      return new ZookeeperBackend(zk, await connectClient(zk.connectString), base);
    } catch (error) {
      await zk.stop();
      throw error;
    }
  }

  discovery(options: { via?: TcpRelay; short?: boolean; logger?: Logger } = {}) {
    const hosts = options.via ? [options.via.address] : this.zk.hosts;
    const timing = options.short ? { session_timeout_ms: 1000, operation_timeout_ms: 1000 } : { session_timeout_ms: 4000, operation_timeout_ms: 2000 };
    return this.track(createDiscovery({ hosts, path: this.base, ...timing }, options.logger ?? silentLogger()));
  }

  async relay(): Promise<TcpRelay> {
    const relay = await TcpRelay.start(this.zk.server(1).clientPort);
    this.relays.push(relay);
    return relay;
  }

  private path(service: string, name: string): string {
    return `${this.base}/${service}/${name}`;
  }

  /**
   * The admin client is a plain library client: after a server restart its
   * reconnect attempt can hang in CONNECTING (the library has no connect
   * timeout; the plugin's session has one). Nudge it the way the plugin
   * would, by dropping the stalled attempt; the same session resumes, so the
   * admin's ephemeral nodes survive.
   */
  private async connected(): Promise<void> {
    let nudged = Date.now();
    await waitFor(() => {
      if (this.admin.connectionState() === ConnectionState.CONNECTED) return true;
      if (Date.now() - nudged > 2_000) {
        nudged = Date.now();
        this.admin.dropConnection();
      }
      return false;
    }, 'the ZooKeeper admin client to reconnect', 30_000, 50);
  }

  async write(service: string, name: string, data: Buffer | string): Promise<void> {
    const bytes = Buffer.from(data);
    await this.connected();
    await mkdirs(this.admin, `${this.base}/${service}`);
    try {
      await this.admin.create(this.path(service, name), bytes, OPEN_ACL, true);
    } catch {
      await this.admin.setData(this.path(service, name), bytes, -1);
    }
  }

  async read(service: string, name: string): Promise<Buffer | undefined> {
    await this.connected();
    try {
      return (await this.admin.getData(this.path(service, name))).data;
    } catch (error) {
      if (isNoNode(error)) return undefined;
      throw error;
    }
  }

  async remove(service: string, name: string): Promise<void> {
    await this.connected();
    await this.admin.remove(this.path(service, name), -1).catch((error: unknown) => {
      if (!isNoNode(error)) throw error;
    });
  }

  async owner(service: string, name: string): Promise<string | undefined> {
    await this.connected();
    const stat = await this.admin.exists(this.path(service, name));
    return stat ? stat.ephemeralOwner.toString('hex') : undefined;
  }

  kill(): Promise<void> {
    return this.zk.stopServer(1);
  }

  async restart(): Promise<void> {
    await this.zk.restartServer(1);
  }

  async stop(): Promise<void> {
    await this.closeTracked();
    await this.admin.close().catch(() => undefined);
    await this.zk.stop();
  }
}

class EtcdBackend extends Tracked implements Backend {
  readonly kind = 'etcd';

  private constructor(
    readonly server: EtcdServer,
    readonly admin: Etcd3,
    private readonly base: string,
  ) {
    super();
  }

  static async start(base: string): Promise<EtcdBackend> {
    const server = await EtcdServer.start();
    return new EtcdBackend(server, server.client(), base);
  }

  discovery(options: { via?: TcpRelay; short?: boolean; logger?: Logger } = {}) {
    const endpoints = options.via ? [`http://${options.via.address}`] : [this.server.endpoint];
    const timing = options.short ? { lease_ttl: 1, operation_timeout_ms: 1000 } : { lease_ttl: 4, operation_timeout_ms: 2000 };
    return this.track(createEtcdDiscovery({ endpoints, prefix: this.base, ...timing }, options.logger ?? silentLogger()));
  }

  async relay(): Promise<TcpRelay> {
    const relay = await TcpRelay.start(this.server.clientPort);
    this.relays.push(relay);
    return relay;
  }

  key(service: string, name: string): string {
    return `${this.base}/${service}/${name}`;
  }

  async write(service: string, name: string, data: Buffer | string): Promise<void> {
    await retrying(() => this.admin.put(this.key(service, name)).value(Buffer.from(data)).exec());
  }

  async read(service: string, name: string): Promise<Buffer | undefined> {
    return (await retrying(() => this.admin.get(this.key(service, name)).buffer())) ?? undefined;
  }

  async remove(service: string, name: string): Promise<void> {
    await retrying(() => this.admin.delete().key(this.key(service, name)).exec());
  }

  async owner(service: string, name: string): Promise<string | undefined> {
    const result = await retrying(() => this.admin.get(this.key(service, name)).exec());
    const kv = result.kvs[0];
    return kv ? `lease:${kv.lease}` : undefined;
  }

  kill(): Promise<void> {
    return this.server.kill();
  }

  restart(): Promise<void> {
    return this.server.restart();
  }

  async stop(): Promise<void> {
    await this.closeTracked();
    this.admin.close();
    await this.server.stop();
  }
}
