import { createHash } from 'node:crypto';
import type { RenderedBackend, RenderedConfig } from './render.js';

/** A server as the running worker has it. */
export interface LiveServer {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  /** put in maintenance to be deleted once its connections are gone */
  readonly removing: boolean;
  /** its configured weight (`srv_uweight`); undefined: not known */
  readonly weight: number | undefined;
  /** an HAProxy `backup` server; undefined: not known (an adopted worker whose stats could not be read) */
  readonly backup: boolean | undefined;
}

type ServerAddress = Pick<LiveServer, 'name' | 'ip' | 'port' | 'weight' | 'backup'>;

/** How `add server` must be called for a backend, as of the config the worker loaded. */
export type BackendRuntime = Pick<RenderedBackend, 'addOptions' | 'staticReason' | 'healthCheck' | 'agentCheck' | 'startsDisabled'>;

/**
 * A backend's running servers. Only the mutators below change them, and every
 * change moves `version`, so a plan can tell a backend is exactly as it was
 * when the plan last compared it.
 */
export class LiveServers {
  readonly #servers = new Map<string, LiveServer>();
  #version = 0;

  constructor(servers: Iterable<LiveServer> = []) {
    for (const server of servers) this.put(server);
  }

  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#servers.size;
  }

  get(name: string): LiveServer | undefined {
    return this.#servers.get(name);
  }

  values(): IterableIterator<LiveServer> {
    return this.#servers.values();
  }

  /** The server as the worker reports it (adoption). LiveServer objects are replaced, never edited. */
  put(server: LiveServer): void {
    this.#version += 1;
    this.#servers.set(server.name, server);
  }

  /** The worker serves `server` at this address (added, restored or re-addressed). */
  serving(server: ServerAddress): void {
    this.put({ name: server.name, ip: server.ip, port: server.port, weight: server.weight, backup: server.backup, removing: false });
  }

  /** `set server ... weight` went through. */
  weighted(name: string, weight: number): void {
    const server = this.#servers.get(name);
    if (server) this.put({ ...server, weight });
  }

  /** The server is in maintenance, to be deleted once its connections are gone. */
  draining(name: string): void {
    const server = this.#servers.get(name);
    if (server) this.put({ ...server, removing: true });
  }

  /** The worker no longer has the server. */
  forget(name: string): void {
    this.#version += 1;
    this.#servers.delete(name);
  }

  /** `del server` went through: forgotten, unless it was wanted again meanwhile (no longer removing). */
  deleted(name: string): void {
    if (this.#servers.get(name)?.removing) this.forget(name);
  }
}

/** A cluster backend as the running worker has it. */
export class LiveBackend {
  #runtime: BackendRuntime | undefined;
  /**
   * The rendered backend a plan last found nothing to do for, with the
   * servers' version and runtime at that moment. The renderer hands back the
   * same RenderedBackend object while its cluster is unchanged, so a sync
   * compares only the backends that changed instead of every server of the
   * fleet (1,000 clusters x 10 servers: ~3.5 ms per change otherwise).
   */
  #matched: { rendered: RenderedBackend; version: number; runtime: BackendRuntime | undefined } | undefined;

  constructor(
    runtime: BackendRuntime | undefined,
    readonly servers: LiveServers = new LiveServers(),
  ) {
    this.#runtime = runtime;
  }

  /** undefined = not known (an adopted worker, until we render the structure it runs) */
  get runtime(): BackendRuntime | undefined {
    return this.#runtime;
  }

  learnRuntime(runtime: BackendRuntime): void {
    this.#runtime = runtime;
  }

  /** A plan found nothing to do for `rendered` with the servers and runtime as they are now. */
  isMatched(rendered: RenderedBackend): boolean {
    const matched = this.#matched;
    return matched !== undefined && matched.rendered === rendered && matched.version === this.servers.version && matched.runtime === this.#runtime;
  }

  /** A cache, not state: it only lets the next plan skip what this one found in order. */
  markMatched(rendered: RenderedBackend): void {
    this.#matched = { rendered, version: this.servers.version, runtime: this.#runtime };
  }
}

/** What the running HAProxy worker has: the structure it loaded plus the servers changed at run time since. */
export class LiveState {
  readonly #backends = new Map<string, LiveBackend>();

  /** `skeletonHash`: hash of the skeleton (config without cluster server lines) the worker loaded */
  constructor(readonly skeletonHash: string) {}

  get backends(): ReadonlyMap<string, LiveBackend> {
    return this.#backends;
  }

  /** The backend, created (runtime not known) when the worker's servers name one not seen yet. */
  backend(name: string): LiveBackend {
    let backend = this.#backends.get(name);
    if (!backend) {
      backend = new LiveBackend(undefined);
      this.#backends.set(name, backend);
    }
    return backend;
  }

  /** Takes backend capabilities from `desired` once the worker is known to run the same structure (an adopted one). */
  completeRuntime(desired: RenderedConfig): void {
    if (this.skeletonHash !== skeletonHash(desired)) return;
    for (const [name, backend] of desired.backends) {
      const entry = this.#backends.get(name);
      if (entry && entry.runtime === undefined) entry.learnRuntime(runtimeOf(backend));
    }
  }

  /** The live state right after a worker loaded `rendered`. */
  static fromRendered(rendered: RenderedConfig): LiveState {
    const live = new LiveState(skeletonHash(rendered));
    for (const [name, backend] of rendered.backends) {
      live.#backends.set(name, new LiveBackend(runtimeOf(backend), new LiveServers(backend.servers.map((server) => ({ name: server.name, ip: server.ip, port: server.port, weight: server.weight, backup: server.backup, removing: false })))));
    }
    return live;
  }
}

export function skeletonHash(rendered: Pick<RenderedConfig, 'skeleton'>): string {
  return createHash('sha256').update(rendered.skeleton).digest('hex');
}

/** The live state right after a worker loaded `rendered`. */
export function liveFromRendered(rendered: RenderedConfig): LiveState {
  return LiveState.fromRendered(rendered);
}

function runtimeOf(backend: RenderedBackend): BackendRuntime {
  return {
    addOptions: backend.addOptions,
    staticReason: backend.staticReason,
    healthCheck: backend.healthCheck,
    agentCheck: backend.agentCheck,
    startsDisabled: backend.startsDisabled,
  };
}
