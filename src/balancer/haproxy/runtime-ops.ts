import { sleep } from '../../lib/deadline.js';
import { LighthouseError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { LiveBackend, LiveServers, LiveState } from './live-state.js';
import type { RuntimeOp } from './plan.js';
import type { HaproxyControl } from './runtime-channel.js';

type ServerAddress = { name: string; ip: string; port: number; weight: number; backup: boolean; addWords: readonly string[] };

export interface RuntimeOpsOptions {
  control: HaproxyControl;
  logger: Logger;
  /** a removed server keeps its connections this long before they are cut */
  drainTimeoutMs: number;
  /** pause between `del server` attempts while a removed server drains */
  deleteRetryMs: number;
  /** a server removed to change its role was deleted in the background: the next plan adds it back */
  onRoleChangeDeleted?(): void;
}

/**
 * Applies a plan's runtime ops to the worker over the runtime API and records
 * each outcome in the live state (through its mutators). Removals drain in the
 * background; a (re)load or a dead HAProxy cancels them (`cancelRemovals`).
 */
export class RuntimeOps {
  private readonly removals = new Map<string, { cancelled: boolean }>();
  private closed = false;

  constructor(private readonly options: RuntimeOpsOptions) {}

  /** Applies runtime ops in order; returns reasons for a reload where an op could not be applied. */
  async apply(live: LiveState | undefined, ops: readonly RuntimeOp[]): Promise<string[]> {
    const fallback: string[] = [];
    for (const op of ops) {
      const backend = live?.backends.get(op.backend);
      if (!backend) continue;
      const name = op.kind === 'remove' ? op.server : op.server.name;
      const target = `${op.backend}/${name}`;
      const started = performance.now();
      try {
        switch (op.kind) {
          case 'add':
            await this.addServer(backend, op.backend, op.server);
            break;
          case 'restore':
            await this.restoreServer(backend, op.backend, op.server);
            break;
          case 'set-addr':
            await this.setAddress(target, op.server.ip, op.server.port);
            backend.servers.serving({ ...op.server, weight: backend.servers.get(name)?.weight ?? op.server.weight });
            break;
          case 'set-weight':
            await this.setWeight(backend, target, name, op.server.weight);
            break;
          case 'remove':
            if (!(await this.removeServer(backend, op.backend, op.server, op.readd === true))) continue;
            break;
        }
        const counters = this.options.control.counters;
        counters.runtimeChanges += 1;
        if (op.kind === 'set-weight') counters.weightChanges += 1;
        if (op.kind === 'remove' && op.readd) counters.roleChanges += 1;
        const detail = op.kind === 'set-weight' ? { weight: op.server.weight } : op.kind === 'add' ? { backup: op.server.backup, weight: op.server.weight } : op.kind === 'remove' && op.readd ? { readd: true } : {};
        const what = op.kind === 'remove' && op.readd ? 'role change (remove, then add back)' : op.kind;
        this.options.logger.info({ op: op.kind, server: target, ...detail, ms: Number((performance.now() - started).toFixed(2)) }, `runtime ${what} ${target}`);
      } catch (error) {
        this.options.logger.warn({ err: error, op: op.kind, server: target }, `runtime API could not ${op.kind} ${target}; falling back to a reload`);
        fallback.push(`runtime ${op.kind} of ${target} failed: ${errorMessage(error)}`);
      }
    }
    return fallback;
  }

  /** Stops every background removal: the worker they were for is gone or replaced. */
  cancelRemovals(): void {
    for (const task of this.removals.values()) task.cancelled = true;
    this.removals.clear();
  }

  close(): void {
    this.closed = true;
    this.cancelRemovals();
  }

  private command(command: string): Promise<string> {
    return this.options.control.command(command);
  }

  private async expect(command: string, ok: RegExp): Promise<string> {
    const output = await this.command(command);
    if (!ok.test(output)) throw new LighthouseError('LH_HAPROXY_RUNTIME', `"${command}" answered: ${output.trim() || '(nothing)'}`);
    return output;
  }

  private async addServer(backend: LiveBackend, backendName: string, server: ServerAddress): Promise<void> {
    const runtime = backend.runtime;
    const target = `${backendName}/${server.name}`;
    if (!runtime) throw new LighthouseError('LH_HAPROXY_RUNTIME', `cannot add ${target} at run time: the running configuration of this backend is not known`);
    const words = [...runtime.addOptions, ...server.addWords];
    const options = words.length > 0 ? ` ${words.join(' ')}` : '';
    const output = await this.command(`add server ${target} ${server.ip}:${server.port}${options}`);
    if (/already exists/i.test(output)) {
      await this.restoreServer(backend, backendName, server);
      return;
    }
    if (!/New server registered/i.test(output)) throw new LighthouseError('LH_HAPROXY_RUNTIME', `"add server ${target}" answered: ${output.trim()}`);
    // Dynamic servers start in maintenance with checks off.
    if (runtime.healthCheck) await this.expect(`enable health ${target}`, /^$/);
    if (runtime.agentCheck) await this.expect(`enable agent ${target}`, /^$/);
    if (!runtime.startsDisabled) await this.expect(`enable server ${target}`, /^$/);
    backend.servers.serving(server);
  }

  private async restoreServer(backend: LiveBackend, backendName: string, server: ServerAddress): Promise<void> {
    const target = `${backendName}/${server.name}`;
    const task = this.removals.get(target);
    if (task) task.cancelled = true;
    this.removals.delete(target);
    const current = backend.servers.get(server.name);
    if (!current || current.ip !== server.ip || current.port !== server.port) {
      const output = await this.command(`set server ${target} addr ${server.ip} port ${server.port}`);
      if (/no such server/i.test(output)) {
        // The deletion won the race: add it anew.
        backend.servers.forget(server.name);
        await this.addServer(backend, backendName, server);
        return;
      }
    }
    const output = await this.command(`enable server ${target}`);
    if (/no such server/i.test(output)) {
      backend.servers.forget(server.name);
      await this.addServer(backend, backendName, server);
      return;
    }
    if (output.trim() !== '') throw new LighthouseError('LH_HAPROXY_RUNTIME', `"enable server ${target}" answered: ${output.trim()}`);
    backend.servers.serving({ ...server, weight: current?.weight ?? server.weight });
    if (current?.weight !== server.weight) await this.setWeight(backend, target, server.name, server.weight);
  }

  private async setWeight(backend: LiveBackend, target: string, name: string, weight: number): Promise<void> {
    await this.expect(`set server ${target} weight ${weight}`, /^$/);
    backend.servers.weighted(name, weight);
  }

  private async setAddress(target: string, ip: string, port: number): Promise<void> {
    await this.expect(`set server ${target} addr ${ip} port ${port}`, /changed|no need to change/i);
  }

  /**
   * Graceful removal: maintenance at once (no new requests), then `del server`
   * every few ms until its connections are gone; only after the drain deadline
   * are its sessions cut. Runs in the background so a slow drain never holds
   * up other clusters.
   */
  private async removeServer(backend: LiveBackend, backendName: string, serverName: string, readd: boolean): Promise<boolean> {
    const target = `${backendName}/${serverName}`;
    // Already being deleted, or deleted since the plan was made: nothing to add (a role change is asked again
    // on every plan until its server is back, and its deletion's follow-up plan adds it).
    if (this.removals.has(target) || !backend.servers.get(serverName)) return false;
    const output = await this.command(`disable server ${target}`);
    if (/no such server/i.test(output)) {
      backend.servers.forget(serverName);
      if (readd) this.options.onRoleChangeDeleted?.();
      return true;
    }
    if (output.trim() !== '') throw new LighthouseError('LH_HAPROXY_RUNTIME', `"disable server ${target}" answered: ${output.trim()}`);
    backend.servers.draining(serverName);
    const task = { cancelled: false };
    this.removals.set(target, task);
    void this.deleteWhenDrained(backend.servers, serverName, target, task, readd);
    return true;
  }

  private async deleteWhenDrained(servers: LiveServers, serverName: string, target: string, task: { cancelled: boolean }, readd: boolean): Promise<void> {
    const { control, logger, drainTimeoutMs, deleteRetryMs } = this.options;
    const started = performance.now();
    const deadline = started + drainTimeoutMs;
    let forced = false;
    let attempts = 0;
    while (!task.cancelled && !this.closed) {
      attempts += 1;
      const output = await this.command(`del server ${target}`).catch((error: unknown) => errorMessage(error));
      if (task.cancelled) break;
      if (/Server deleted|No such server/i.test(output)) {
        servers.deleted(serverName);
        logger.debug({ server: target, attempts, ms: performance.now() - started, forced }, 'server deleted');
        if (this.removals.get(target) === task) this.removals.delete(target);
        if (readd) this.options.onRoleChangeDeleted?.();
        return;
      }
      if (!forced && performance.now() >= deadline) {
        forced = true;
        control.counters.forcedRemovals += 1;
        logger.warn({ server: target, drainMs: drainTimeoutMs }, 'removed server still has connections after the drain deadline; cutting them');
        await this.command(`shutdown sessions server ${target}`).catch(() => undefined);
      } else if (forced && performance.now() >= deadline + drainTimeoutMs) {
        logger.error({ server: target, answer: output }, 'removed server could not be deleted; it stays in maintenance until the next reload');
        break;
      }
      await sleep(deleteRetryMs);
    }
    if (this.removals.get(target) === task) this.removals.delete(target);
  }
}
