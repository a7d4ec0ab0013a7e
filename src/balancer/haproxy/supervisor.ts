import { createHash } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicWrite } from '../../lib/atomic-write.js';
import { Backoff } from '../../lib/backoff.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ConfigFile } from './config-file.js';
import type { HaproxyHealth } from './health.js';
import { bindTargets } from './listeners.js';
import { LiveState, liveFromRendered } from './live-state.js';
import type { HaproxyPaths } from './paths.js';
import type { HaproxyProcess } from './process.js';
import type { RenderedConfig } from './render.js';
import { parseServersState, parseStatCsv } from './runtime-api.js';
import type { HaproxyControl } from './runtime-channel.js';
import type { RuntimeOps } from './runtime-ops.js';
import type { HaproxyConfig } from './schema.js';

/** What the running HAProxy is, as far as this balancer knows. */
export type Running = { kind: 'none' } | { kind: 'master'; pid: number } | { kind: 'classic'; pid: number };

/** Written after every confirmed (re)load: what the running HAProxy loaded, for a writer that adopts it later. */
interface LoadedMarker {
  skeleton: string;
  config: string;
  /** its `bind` addresses (absent in markers of older versions) */
  binds?: string[];
}

const textHash = (text: string): string => createHash('sha256').update(text).digest('hex');

/** An empty server-state file in the format HAProxy reads: version line only. */
const EMPTY_SERVER_STATE = '1\n';

export interface SupervisorOptions {
  config: HaproxyConfig;
  paths: HaproxyPaths;
  process: HaproxyProcess;
  control: HaproxyControl;
  health: HaproxyHealth;
  file: ConfigFile;
  ops: RuntimeOps;
  logger: Logger;
  /** how often the master pid is checked (a cheap /proc read) */
  livenessIntervalMs: number;
  /** the balancer's one queue: a restart never overlaps a sync or a reload */
  serial: <T>(work: () => Promise<T>) => Promise<T>;
  /** the render HAProxy must end up with (config_file holds it, or is about to) */
  desired: () => RenderedConfig | undefined;
  /** HAProxy confirmed it runs a config (a start or a reload); called before the marker is written */
  onLoaded: () => void;
}

/**
 * The HAProxy process as the balancer sees it: adopts one a previous writer
 * left running, starts (master-worker or classic) and reloads it, keeps what
 * it loaded (its live state, text hash and listeners), and starts it again
 * when it dies, retrying with backoff until one serves. It decides nothing
 * about when to reload: that is the sync policy's.
 */
export class HaproxySupervisor {
  private runningNow: Running = { kind: 'none' };
  private liveNow: LiveState | undefined;
  private liveSkeletonNow: string | undefined;
  /** hash of the full text the running HAProxy loaded (the classic strategy reloads whenever it differs) */
  private loadedConfig: string | undefined;
  private loadedBindsNow: Set<string> | undefined;
  private adopted = false;
  private closed = false;
  private livenessTimer: NodeJS.Timeout | undefined;
  private readonly restartBackoff = new Backoff(1_000, 30_000);
  private restartNotBefore = 0;
  /** HAProxy died and is not running again yet: the liveness check keeps trying */
  private restartWanted = false;
  private restartQueued = false;

  constructor(private readonly options: SupervisorOptions) {}

  get running(): Running {
    return this.runningNow;
  }

  /** what the running worker has; undefined = unknown (forces a reload) */
  get live(): LiveState | undefined {
    return this.liveNow;
  }

  /** the skeleton text the worker loaded, when known (for the log) */
  get liveSkeleton(): string | undefined {
    return this.liveSkeletonNow;
  }

  /** `bind` addresses the running HAProxy holds; undefined = unknown (no pre-check of new listeners) */
  get loadedBinds(): ReadonlySet<string> | undefined {
    return this.loadedBindsNow;
  }

  /** The running HAProxy loaded exactly this text. */
  runs(text: string): boolean {
    return this.loadedConfig === textHash(text);
  }

  /** Our own master exited (killed, crashed): check now rather than at the next tick. */
  exited(pid: number): void {
    if (this.runningNow.kind !== 'none' && this.runningNow.pid === pid) this.checkLiveness();
  }

  close(): void {
    this.closed = true;
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = undefined;
  }

  /** Once per instance: find an HAProxy a previous writer left running, so a restarted writer never starts a second one. */
  async adopt(): Promise<void> {
    if (this.adopted) return;
    this.adopted = true;
    const { paths, process, file, logger, health } = this.options;
    await mkdir(dirname(paths.pid), { recursive: true });
    await mkdir(dirname(paths.adminSocket), { recursive: true });
    await mkdir(dirname(paths.masterSocket), { recursive: true });
    await file.load();
    const found = await process.running();
    if (found.kind !== 'none') this.loadedBindsNow = toSet((await this.readLoadedMarker())?.binds);
    if (found.kind === 'master') {
      this.runningNow = { kind: 'master', pid: found.pid };
      this.liveNow = await this.adoptedLiveState();
      logger.info({ pid: found.pid, known: this.liveNow !== undefined }, 'adopted the running HAProxy master');
      health.serving();
    } else if (found.kind === 'classic') {
      this.runningNow = { kind: 'classic', pid: found.pid };
      // A classic process serves what it loaded; the runtime strategy replaces it with a master (-x, -sf).
      this.loadedConfig = (await this.readLoadedMarker())?.config;
      logger.info({ pid: found.pid }, 'found a running HAProxy (not master-worker)');
      health.serving();
    }
    this.livenessTimer = setInterval(() => this.checkLiveness(), this.options.livenessIntervalMs);
    this.livenessTimer.unref();
  }

  /**
   * The adopted worker's state: its structure from the marker written after
   * the last confirmed (re)load, its servers from `show servers state`
   * (what it really has, even if a writer died between a write and a
   * runtime command). Backend capabilities are unknown until we render the
   * same structure: `computePlan` then treats its adds as needing a reload.
   */
  private async adoptedLiveState(): Promise<LiveState | undefined> {
    const loaded = (await this.readLoadedMarker())?.skeleton;
    if (!loaded) return undefined;
    try {
      const rows = parseServersState(await this.options.control.command('show servers state'));
      // `show servers state` has no backup flag; `show stat` has (`bck`), for servers only (type 2).
      const stats = parseStatCsv(await this.options.control.command('show stat -1 4 -1'));
      const backups = new Map(stats.map((row) => [`${row.pxname ?? ''}/${row.svname ?? ''}`, row.bck === '1']));
      const live = new LiveState(loaded);
      for (const row of rows) {
        // Forced maintenance (0x01) on a server of ours means a removal was under way.
        const removing = (Number(row.srv_admin_state ?? 0) & 0x01) !== 0;
        const weight = Number(row.srv_uweight);
        live.backend(row.be_name ?? '').servers.put({
          name: row.srv_name ?? '',
          ip: row.srv_addr ?? '',
          port: Number(row.srv_port ?? 0),
          removing,
          weight: Number.isInteger(weight) ? weight : undefined,
          backup: backups.get(`${row.be_name ?? ''}/${row.srv_name ?? ''}`),
        });
      }
      return live;
    } catch (error) {
      this.options.logger.warn({ err: error }, 'cannot read the adopted HAProxy servers; it will be reloaded');
      return undefined;
    }
  }

  async startMaster(): Promise<void> {
    const { file, process, control, logger } = this.options;
    const takeOver = this.runningNow.kind === 'classic' ? this.runningNow.pid : undefined;
    let rendered: RenderedConfig;
    try {
      await file.ensure(this.options.desired());
      rendered = this.options.desired()!;
      // A fresh process must not pick up states of servers from before a crash.
      await this.freshServerState();
      const started = Date.now();
      const proc = await process.startMaster(takeOver);
      this.runningNow = { kind: 'master', pid: proc.master.pid };
      control.counters.starts += 1;
      logger.info({ pid: proc.master.pid, worker: proc.workers[0]?.pid, ms: Date.now() - started }, 'HAProxy started (master-worker)');
    } catch (error) {
      control.counters.startFailures += 1;
      if (takeOver === undefined) this.nothingServes(error);
      throw error;
    }
    await this.loaded(rendered);
  }

  async startClassic(oldPid: number | undefined): Promise<void> {
    const { file, process, control, logger } = this.options;
    let rendered: RenderedConfig;
    let pid: number;
    const started = Date.now();
    try {
      await file.ensure(this.options.desired());
      rendered = this.options.desired()!;
      if (oldPid === undefined) await this.freshServerState();
      pid = await process.startClassic(oldPid);
    } catch (error) {
      if (oldPid === undefined) {
        control.counters.startFailures += 1;
        this.nothingServes(error);
      }
      throw error;
    }
    if (oldPid === undefined) control.counters.starts += 1;
    logger.info({ pid, replaced: oldPid, ms: Date.now() - started }, oldPid === undefined ? 'HAProxy started (classic daemon)' : 'HAProxy reloaded (classic -sf)');
    this.runningNow = { kind: 'classic', pid };
    await this.loaded(rendered);
  }

  /**
   * Replaces the running HAProxy's config: a master-worker reload (server
   * states carried over), or a new process with -sf for the classic strategy
   * and for a classic HAProxy the runtime strategy takes over. `running` is
   * what runs now, `started` when the caller began (for the log). The caller
   * does the bookkeeping (`loaded`) once it has counted the reload.
   */
  async reload(running: Exclude<Running, { kind: 'none' }>, classic: boolean, started: number): Promise<void> {
    if (classic || running.kind === 'classic') {
      // A master-worker HAProxy left by the runtime strategy is replaced the same way (-sf to its master).
      if (classic) await this.startClassic(running.pid);
      else await this.startMaster();
    } else {
      await this.dumpServerState();
      const proc = await this.options.process.reloadMaster(running.pid);
      this.options.logger.info({ worker: proc.workers[0]?.pid, ms: Date.now() - started }, 'HAProxy reloaded (master-worker)');
    }
  }

  /** `show servers state` into the server-state file, so the new worker keeps drain/maint/weights and check results. */
  private async dumpServerState(): Promise<void> {
    try {
      const state = await this.options.control.command('show servers state');
      await atomicWrite(this.options.paths.serverState, `${state.trim()}\n`);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'cannot dump the server states before the reload; the new worker starts from the config');
      await atomicWrite(this.options.paths.serverState, EMPTY_SERVER_STATE).catch(() => undefined);
    }
  }

  /**
   * An empty server-state file for a fresh start. On a full disk the write
   * fails; no file at all means the same to HAProxy (it warns and starts
   * without states), so it is removed instead rather than keep HAProxy down.
   */
  private async freshServerState(): Promise<void> {
    try {
      await atomicWrite(this.options.paths.serverState, EMPTY_SERVER_STATE);
    } catch (error) {
      await unlink(this.options.paths.serverState).catch((unlinkError: NodeJS.ErrnoException) => {
        if (unlinkError.code !== 'ENOENT') throw error;
      });
      this.options.logger.warn({ err: error }, `starting HAProxy without a server-state file: ${errorMessage(error)}`);
    }
  }

  /**
   * A start failed and no HAProxy serves (it died, or never started): the
   * liveness check retries with backoff until one serves, whether or not
   * anything changes meanwhile.
   */
  private nothingServes(error: unknown): void {
    if (this.runningNow.kind !== 'none') return;
    const delay = this.restartBackoff.next();
    this.restartWanted = true;
    this.restartNotBefore = performance.now() + delay;
    this.options.health.startFailed(error, delay);
  }

  /** Bookkeeping after HAProxy confirmed it runs `rendered`. */
  async loaded(rendered: RenderedConfig): Promise<void> {
    this.options.onLoaded();
    this.options.ops.cancelRemovals();
    this.options.control.admin.reset();
    const live = liveFromRendered(rendered);
    this.liveNow = live;
    this.liveSkeletonNow = rendered.skeleton;
    this.loadedConfig = textHash(rendered.text);
    const binds = bindTargets(rendered.text).map((target) => target.address);
    this.loadedBindsNow = new Set(binds);
    this.restartBackoff.reset();
    this.restartWanted = false;
    this.options.health.serving();
    const marker: LoadedMarker = { skeleton: live.skeletonHash, config: this.loadedConfig, binds };
    await atomicWrite(this.options.paths.loaded, `${JSON.stringify(marker)}\n`).catch((error: unknown) => this.options.logger.warn({ err: error }, 'cannot write the loaded-config marker'));
  }

  private async readLoadedMarker(): Promise<LoadedMarker | undefined> {
    const text = await readFile(this.options.paths.loaded, 'utf8').catch(() => undefined);
    if (!text) return undefined;
    try {
      const parsed = JSON.parse(text) as Partial<LoadedMarker>;
      if (typeof parsed.skeleton !== 'string' || typeof parsed.config !== 'string') return undefined;
      const binds = Array.isArray(parsed.binds) && parsed.binds.every((bind) => typeof bind === 'string') ? parsed.binds : undefined;
      return { skeleton: parsed.skeleton, config: parsed.config, binds };
    } catch {
      return undefined;
    }
  }

  /**
   * Cheap liveness check (~1/s): a /proc read of the master pid. A dead
   * HAProxy is started again from the config file; while that fails (a port
   * taken, a full disk) this check retries it with backoff until it serves.
   */
  private checkLiveness(): void {
    if (this.closed) return;
    const { serial, process, logger } = this.options;
    if (this.restartWanted) {
      if (performance.now() >= this.restartNotBefore && !this.restartQueued) {
        this.restartQueued = true;
        void serial(() => this.restart())
          .catch(() => undefined)
          .finally(() => (this.restartQueued = false));
      }
      return;
    }
    if (this.runningNow.kind === 'none') return;
    const pid = this.runningNow.pid;
    void process.isAlive(pid).then((alive) => {
      if (alive || this.closed) return;
      void serial(async () => {
        if (this.runningNow.kind === 'none' || this.runningNow.pid !== pid || (await process.isAlive(pid))) return;
        logger.warn({ pid }, 'HAProxy is gone; starting it again');
        this.runningNow = { kind: 'none' };
        this.liveNow = undefined;
        this.options.ops.cancelRemovals();
        this.options.control.admin.reset();
        this.options.health.gone();
        this.restartWanted = true;
        this.restartNotBefore = 0;
        await this.restart().catch(() => undefined);
      }).catch(() => undefined);
    });
  }

  /** One attempt to start HAProxy again after it died; a failure sets the next attempt's time (backoff). */
  private async restart(): Promise<void> {
    if (this.closed || !this.restartWanted || performance.now() < this.restartNotBefore) return;
    // A sync started it meanwhile.
    if (this.runningNow.kind !== 'none') {
      this.restartWanted = false;
      return;
    }
    // Nothing rendered yet: the first sync starts it.
    if (!this.options.desired()) return;
    // A failure sets the next attempt's time (nothingServes).
    if (this.options.config.update_strategy === 'reload') await this.startClassic(undefined);
    else await this.startMaster();
  }
}

function toSet(values: readonly string[] | undefined): Set<string> | undefined {
  return values ? new Set(values) : undefined;
}
