import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { atomicWrite } from '../../lib/atomic-write.js';
import { Backoff } from '../../lib/backoff.js';
import { sleep } from '../../lib/deadline.js';
import { LighthouseError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { Balancer, BalancedCluster, BalancerProblem, DrainingServer } from '../types.js';
import { blame, ConfigFile, ConfigRejectedError, explainRejection } from './config-file.js';
import { HaproxyControl } from './control.js';
import { DrainingSessions } from './draining.js';
import { HaproxyHealth } from './health.js';
import { crossCheck, heldListeners } from './cross-check.js';
import { haproxyPaths, type HaproxyPaths } from './paths.js';
import { computePlan, liveFromRendered, LiveServers, skeletonHash, type LiveState, type RuntimeOp } from './plan.js';
import { bindTargets, busyTargets } from './listeners.js';
import { HaproxyProcess, type CheckResult } from './process.js';
import { renderConfig, type RenderedConfig } from './render.js';
import { adminSocket, parseServersState } from './runtime-api.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';

type Cluster = BalancedCluster<HaproxyClusterConfig>;

export interface HaproxyBalancerOptions {
  logger: Logger;
  /** balancer file, for messages */
  file?: string;
  /** how often the master pid is checked (a cheap /proc read) */
  livenessIntervalMs?: number;
  /** a removed server keeps its connections this long before they are cut */
  drainTimeoutMs?: number;
  /** pause between `del server` attempts while a removed server drains */
  deleteRetryMs?: number;
  startTimeoutMs?: number;
  /**
   * After a membership-only change the config file is written in the
   * background once changes pause for this long (default 250 ms)...
   */
  configWriteQuietMs?: number;
  /**
   * ...or at the latest this long after the first unwritten change (default
   * 5 s). A write that needs `haproxy -c` blocks the event loop for several
   * ms when it spawns it (fork of a large process: ~11 ms at 150 MB RSS
   * here), so under churn writes should not come between every two changes.
   * Reloads, restarts, structural syncs and close() never wait for this.
   */
  configWriteMaxDelayMs?: number;
}

/** What the running HAProxy is, as far as this balancer knows. */
type Running = { kind: 'none' } | { kind: 'master'; pid: number } | { kind: 'classic'; pid: number };

/** Written after every confirmed (re)load: what the running HAProxy loaded, for a writer that adopts it later. */
interface LoadedMarker {
  skeleton: string;
  config: string;
  /** its `bind` addresses (absent in markers of older versions) */
  binds?: string[];
}

const textHash = (text: string): string => createHash('sha256').update(text).digest('hex');

/** How long a structure `haproxy -c` refused is taken as refused without checking it again (unless it changes). */
const REFUSAL_RECHECK_MS = 10_000;

/** An empty server-state file in the format HAProxy reads: version line only. */
const EMPTY_SERVER_STATE = '1\n';

/**
 * The HAProxy balancer. `sync` renders the whole config and brings the
 * running HAProxy there the cheapest safe way: runtime API for membership
 * (at once; the validated file follows in the background, coalesced), one
 * seamless master-worker reload for structural changes (validated with
 * `haproxy -c` and written atomically first), a start when nothing runs.
 * The file is always the truth: nothing (re)loads it while a write is pending. All work goes through one queue, so a sync, a
 * deferred reload and a restart after a crash never overlap.
 */
export class HaproxyBalancer implements Balancer<HaproxyClusterConfig> {
  readonly control: HaproxyControl;
  private readonly paths: HaproxyPaths;
  private readonly process: HaproxyProcess;
  private readonly logger: Logger;
  private readonly drainTimeoutMs: number;
  private readonly deleteRetryMs: number;
  /** config_file and its writes (validated, or in the background after membership changes) */
  private readonly file: ConfigFile;

  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private adopted = false;
  private running: Running = { kind: 'none' };
  /** what the running worker has; undefined = unknown (forces a reload) */
  private live: LiveState | undefined;
  private liveSkeleton: string | undefined;
  /** hash of the full text the running HAProxy loaded (the classic strategy reloads whenever it differs) */
  private loadedConfig: string | undefined;
  /** `bind` addresses the running HAProxy holds; undefined = unknown (no pre-check of new listeners) */
  private loadedBinds: Set<string> | undefined;
  /** the render HAProxy must end up with: in config_file, or about to be (background write) */
  private onDisk: RenderedConfig | undefined;
  /** what each installed cluster listened on: those keep their addresses in the next cross-check */
  private lastHeld = new Map<string, string>();
  /** the clusters (settings and members) of the render last installed in config_file: what a refused change falls back to */
  private installed: readonly Cluster[] | undefined;
  /** the last desired structure `haproxy -c` refused, with its error (a re-check only when it changes) */
  private refused: { skeleton: string; error: ConfigRejectedError; at: number } | undefined;
  private reported = new Set<string>();

  private lastReloadAt = 0;
  private reloadTimer: NodeJS.Timeout | undefined;
  private lastReloadError: LighthouseError | undefined;
  private readonly reloadBackoff = new Backoff(500, 30_000);
  private livenessTimer: NodeJS.Timeout | undefined;
  private readonly restartBackoff = new Backoff(1_000, 30_000);
  private restartNotBefore = 0;
  /** HAProxy died and is not running again yet: the liveness check keeps trying */
  private restartWanted = false;
  private restartQueued = false;
  /** up or down, logged once per change; `lighthouse_haproxy_up` and the marker `lighthouse status` reads */
  readonly health: HaproxyHealth;
  private readonly removals = new Map<string, { cancelled: boolean }>();
  private readonly draining: DrainingSessions;

  constructor(
    private readonly config: HaproxyConfig,
    private readonly options: HaproxyBalancerOptions,
  ) {
    this.logger = options.logger;
    this.paths = haproxyPaths(config);
    this.process = new HaproxyProcess({
      binary: config.haproxy_binary,
      paths: this.paths,
      logger: this.logger,
      startTimeoutMs: options.startTimeoutMs,
      // Our own master dying (killed, crashed) restarts it now; an adopted one is found by the periodic check.
      onExit: (pid) => {
        if (this.running.kind !== 'none' && this.running.pid === pid) this.checkLiveness();
      },
    });
    this.control = new HaproxyControl(this.paths, adminSocket(this.paths.adminSocket), this.process);
    this.draining = new DrainingSessions(this.paths.adminSocket);
    this.health = new HaproxyHealth(this.paths.down, this.logger);
    this.drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
    this.deleteRetryMs = options.deleteRetryMs ?? 5;
    this.file = new ConfigFile({
      paths: this.paths,
      process: this.process,
      counters: this.control.counters,
      logger: this.logger,
      balancerFile: options.file,
      quietMs: options.configWriteQuietMs ?? 250,
      maxDelayMs: options.configWriteMaxDelayMs ?? 5_000,
    });
  }

  sync(clusters: readonly Cluster[]): Promise<void> {
    return this.serial(() => this.syncNow(clusters));
  }

  async validate(clusters: readonly Cluster[]): Promise<BalancerProblem[]> {
    const { accepted, problems } = crossCheck(this.config, clusters);
    const rendered = renderConfig(this.config, accepted);
    const dir = await mkdtemp(join(tmpdir(), 'lighthouse-haproxy-check-'));
    try {
      const file = join(dir, 'haproxy.cfg');
      await atomicWrite(file, rendered.text);
      const result = await this.process.check(file);
      if (!result.ok) problems.push({ subject: this.subjectOf(result, rendered), message: explainRejection(result, rendered) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return problems;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.livenessTimer = undefined;
    this.reloadTimer = undefined;
    this.cancelRemovals();
    await this.queue.catch(() => undefined);
    // Leave the file matching what the worker runs.
    await this.file.settle();
    await this.health.settle();
    this.control.close();
  }

  // ------------------------------------------------------------------ sync

  private async syncNow(clusters: readonly Cluster[]): Promise<void> {
    if (this.closed) return;
    const { accepted, problems } = crossCheck(this.config, clusters, this.lastHeld);
    this.report(problems);
    const desired = renderConfig(this.config, accepted);
    for (const message of desired.skipped) this.logger.warn(message);
    await this.adopt();

    // A structure `haproxy -c` refused is checked again when it changes (its
    // file is edited), else at most every REFUSAL_RECHECK_MS: what it lacked
    // may appear without an edit (a certificate, an errorfile).
    const known = this.refused?.skeleton === desired.skeleton && Date.now() - this.refused.at < REFUSAL_RECHECK_MS ? this.refused.error : undefined;
    const refusal = known ?? (await this.install(desired, accepted));
    if (refusal === undefined) {
      if (this.refused) this.logger.info({ file: this.paths.config }, 'the configuration HAProxy refused before passes now or is no longer wanted; HAProxy runs the desired state');
      this.refused = undefined;
      return;
    }
    if (!known && refusal instanceof ConfigRejectedError) this.refused = { skeleton: desired.skeleton, error: refusal, at: Date.now() };

    // Only the refused change waits: the rest still goes to HAProxy, above all
    // membership changes (drains, dead nodes, scale-ups) of every cluster it runs.
    let failure: unknown;
    for (const [target, targetClusters] of this.fallbacks(desired, accepted, refusal)) {
      try {
        failure = await this.install(target, targetClusters);
      } catch (error) {
        // e.g. the reload of a partial render failed: the installed structure may still go through.
        failure = error;
        continue;
      }
      if (failure === undefined) throw refusalError(refusal, 'only this change waits until it is fixed: every other change was applied');
    }
    throw refusalError(refusal, `nothing else could be applied either${failure === undefined ? '' : ` (${errorMessage(failure)})`}`);
  }

  /**
   * Brings HAProxy to `target` (membership through the runtime API, else a
   * validated write and a reload or start). Resolves with the error when the
   * file could not be written or validated: nothing touched HAProxy then, so
   * a fallback can still go through. Anything later (a failed reload) throws.
   */
  private async install(target: RenderedConfig, clusters: readonly Cluster[]): Promise<unknown> {
    const held = heldListeners(this.config, clusters);

    if (this.config.update_strategy !== 'reload' && this.running.kind === 'master') {
      this.completeLive(target);
      const plan = computePlan(this.live, target, this.liveSkeleton);
      if (!plan.reload) {
        // Membership only: the worker already runs this skeleton (HAProxy loaded
        // it, so it is valid), and server lines come from validated node data.
        // `haproxy -c` costs 35-60 ms with 1,000 servers, so the runtime API goes
        // first and the validated file follows in the background, coalesced.
        this.onDisk = target;
        this.installed = clusters;
        this.lastHeld = held;
        if (plan.ops.length > 0) {
          const fallback = await this.applyOps(plan.ops);
          if (!this.file.holds(target.text)) this.file.defer(target, fallback.length === 0);
          if (fallback.length > 0) await this.requestReload(fallback);
        } else if (!this.file.holds(target.text)) {
          this.file.defer(target, true);
        }
        return undefined;
      }
    }

    // Structural (or a start): validate and install before anything runs it.
    await this.file.settle();
    if (!this.file.holds(target.text)) {
      try {
        await this.file.writeValidated(target);
      } catch (error) {
        return error;
      }
    }
    this.onDisk = target;
    this.installed = clusters;
    this.lastHeld = held;

    if (this.config.update_strategy === 'reload') {
      await this.syncClassic();
      return undefined;
    }
    if (this.running.kind !== 'master') {
      await this.startMaster();
      return undefined;
    }
    this.completeLive(target);
    const plan = computePlan(this.live, target, this.liveSkeleton);
    if (plan.ops.length === 0 && !plan.reload) return undefined;
    const fallback = await this.applyOps(plan.ops);
    const reasons = [...plan.reasons, ...fallback];
    if (reasons.length > 0) await this.requestReload(reasons);
    return undefined;
  }

  /**
   * What to install instead of a render whose file was refused, best first:
   * the desired state with only the clusters HAProxy blamed kept at their
   * installed settings (new ones left out), then the whole installed
   * structure with today's members. Both have the current members of every
   * cluster, so the file, and any HAProxy started from it later, holds what
   * the runtime API applied.
   */
  private *fallbacks(desired: RenderedConfig, accepted: readonly Cluster[], refusal: unknown): Generator<[RenderedConfig, Cluster[]]> {
    const installed = this.installed;
    if (!installed) return;
    const before = new Map(installed.map((cluster) => [cluster.name, cluster]));
    const tried = new Set([desired.skeleton]);
    const culprits = refusal instanceof ConfigRejectedError ? blamedClusters(refusal.culprits) : undefined;
    if (culprits && culprits.size > 0) {
      const clusters = accepted.flatMap((cluster): Cluster[] => {
        if (!culprits.has(cluster.name)) return [cluster];
        const old = before.get(cluster.name);
        return old ? [{ ...cluster, config: old.config, metaCluster: old.metaCluster }] : [];
      });
      const render = renderConfig(this.config, clusters);
      if (!tried.has(render.skeleton)) {
        tried.add(render.skeleton);
        yield [render, clusters];
      }
    }
    const now = new Map(accepted.map((cluster) => [cluster.name, cluster]));
    // A cluster removed meanwhile keeps its last members until the structure can change.
    const clusters = installed.map((cluster) => {
      const current = now.get(cluster.name);
      return current ? { ...cluster, members: current.members } : cluster;
    });
    const render = renderConfig(this.config, clusters);
    if (!tried.has(render.skeleton)) yield [render, clusters];
  }

  /**
   * Resolves once config_file holds everything membership syncs applied so far
   * (the background write is done). For callers that read the file, e.g. tests.
   */
  async configWritten(): Promise<void> {
    await this.serial(() => this.file.ensure(this.onDisk));
  }

  /** The original's strategy: every change is a new process with -sf. */
  private async syncClassic(): Promise<void> {
    if (this.running.kind === 'none') {
      await this.startClassic(undefined);
      return;
    }
    if (this.loadedConfig !== textHash(this.onDisk!.text)) await this.requestReload(['update_strategy is "reload": every change reloads']);
  }

  // ------------------------------------------------------------------ process

  /** Once per instance: find an HAProxy a previous writer left running, so a restarted writer never starts a second one. */
  private async adopt(): Promise<void> {
    if (this.adopted) return;
    this.adopted = true;
    await mkdir(dirname(this.paths.pid), { recursive: true });
    await mkdir(dirname(this.paths.adminSocket), { recursive: true });
    await mkdir(dirname(this.paths.masterSocket), { recursive: true });
    await this.file.load();
    const found = await this.process.running();
    if (found.kind !== 'none') this.loadedBinds = toSet((await this.readLoadedMarker())?.binds);
    if (found.kind === 'master') {
      this.running = { kind: 'master', pid: found.pid };
      this.live = await this.adoptedLiveState();
      this.logger.info({ pid: found.pid, known: this.live !== undefined }, 'adopted the running HAProxy master');
      this.health.serving();
    } else if (found.kind === 'classic') {
      this.running = { kind: 'classic', pid: found.pid };
      // A classic process serves what it loaded; the runtime strategy replaces it with a master (-x, -sf).
      this.loadedConfig = (await this.readLoadedMarker())?.config;
      this.logger.info({ pid: found.pid }, 'found a running HAProxy (not master-worker)');
      this.health.serving();
    }
    this.livenessTimer = setInterval(() => this.checkLiveness(), this.options.livenessIntervalMs ?? 1_000);
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
      const rows = parseServersState(await this.control.command('show servers state'));
      const live: LiveState = { skeletonHash: loaded, backends: new Map() };
      for (const row of rows) {
        const backend = row.be_name ?? '';
        let entry = live.backends.get(backend);
        if (!entry) {
          entry = { runtime: undefined, servers: new LiveServers() };
          live.backends.set(backend, entry);
        }
        // Forced maintenance (0x01) on a server of ours means a removal was under way.
        const removing = (Number(row.srv_admin_state ?? 0) & 0x01) !== 0;
        entry.servers.set(row.srv_name ?? '', { name: row.srv_name ?? '', ip: row.srv_addr ?? '', port: Number(row.srv_port ?? 0), removing });
      }
      return live;
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot read the adopted HAProxy servers; it will be reloaded');
      return undefined;
    }
  }

  /** Takes backend capabilities from our render once the adopted worker is known to run the same structure. */
  private completeLive(desired: RenderedConfig): void {
    if (!this.live || this.live.skeletonHash !== skeletonHash(desired)) return;
    for (const [name, backend] of desired.backends) {
      const entry = this.live.backends.get(name);
      if (entry && entry.runtime === undefined) {
        entry.runtime = {
          addOptions: backend.addOptions,
          staticReason: backend.staticReason,
          healthCheck: backend.healthCheck,
          agentCheck: backend.agentCheck,
          startsDisabled: backend.startsDisabled,
        };
      }
    }
  }

  private async startMaster(): Promise<void> {
    const takeOver = this.running.kind === 'classic' ? this.running.pid : undefined;
    let rendered: RenderedConfig;
    try {
      await this.file.ensure(this.onDisk);
      rendered = this.onDisk!;
      // A fresh process must not pick up states of servers from before a crash.
      await this.freshServerState();
      const started = Date.now();
      const proc = await this.process.startMaster(takeOver);
      this.running = { kind: 'master', pid: proc.master.pid };
      this.control.counters.starts += 1;
      this.logger.info({ pid: proc.master.pid, worker: proc.workers[0]?.pid, ms: Date.now() - started }, 'HAProxy started (master-worker)');
    } catch (error) {
      this.control.counters.startFailures += 1;
      if (takeOver === undefined) this.nothingServes(error);
      throw error;
    }
    await this.loaded(rendered);
  }

  private async startClassic(oldPid: number | undefined): Promise<void> {
    let rendered: RenderedConfig;
    let pid: number;
    const started = Date.now();
    try {
      await this.file.ensure(this.onDisk);
      rendered = this.onDisk!;
      if (oldPid === undefined) await this.freshServerState();
      pid = await this.process.startClassic(oldPid);
    } catch (error) {
      if (oldPid === undefined) {
        this.control.counters.startFailures += 1;
        this.nothingServes(error);
      }
      throw error;
    }
    if (oldPid === undefined) this.control.counters.starts += 1;
    this.logger.info({ pid, replaced: oldPid, ms: Date.now() - started }, oldPid === undefined ? 'HAProxy started (classic daemon)' : 'HAProxy reloaded (classic -sf)');
    this.running = { kind: 'classic', pid };
    await this.loaded(rendered);
  }

  /**
   * An empty server-state file for a fresh start. On a full disk the write
   * fails; no file at all means the same to HAProxy (it warns and starts
   * without states), so it is removed instead rather than keep HAProxy down.
   */
  private async freshServerState(): Promise<void> {
    try {
      await atomicWrite(this.paths.serverState, EMPTY_SERVER_STATE);
    } catch (error) {
      await unlink(this.paths.serverState).catch((unlinkError: NodeJS.ErrnoException) => {
        if (unlinkError.code !== 'ENOENT') throw error;
      });
      this.logger.warn({ err: error }, `starting HAProxy without a server-state file: ${errorMessage(error)}`);
    }
  }

  /**
   * A start failed and no HAProxy serves (it died, or never started): the
   * liveness check retries with backoff until one serves, whether or not
   * anything changes meanwhile.
   */
  private nothingServes(error: unknown): void {
    if (this.running.kind !== 'none') return;
    const delay = this.restartBackoff.next();
    this.restartWanted = true;
    this.restartNotBefore = Date.now() + delay;
    this.health.startFailed(error, delay);
  }

  /** Bookkeeping after HAProxy confirmed it runs `rendered`. */
  private async loaded(rendered: RenderedConfig): Promise<void> {
    // A start counts as a load for reload_min_interval_ms: a structural change right after it waits too.
    this.lastReloadAt = Math.max(this.lastReloadAt, Date.now());
    this.cancelRemovals();
    this.control.admin.reset();
    this.live = liveFromRendered(rendered);
    this.liveSkeleton = rendered.skeleton;
    this.loadedConfig = textHash(rendered.text);
    const binds = bindTargets(rendered.text).map((target) => target.address);
    this.loadedBinds = new Set(binds);
    this.lastReloadError = undefined;
    this.reloadBackoff.reset();
    this.restartBackoff.reset();
    this.restartWanted = false;
    this.health.serving();
    const marker: LoadedMarker = { skeleton: this.live.skeletonHash, config: this.loadedConfig, binds };
    await atomicWrite(this.paths.loaded, `${JSON.stringify(marker)}\n`).catch((error: unknown) => this.logger.warn({ err: error }, 'cannot write the loaded-config marker'));
  }

  private async readLoadedMarker(): Promise<LoadedMarker | undefined> {
    const text = await readFile(this.paths.loaded, 'utf8').catch(() => undefined);
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
    if (this.restartWanted) {
      if (Date.now() >= this.restartNotBefore && !this.restartQueued) {
        this.restartQueued = true;
        void this.serial(() => this.restart())
          .catch(() => undefined)
          .finally(() => (this.restartQueued = false));
      }
      return;
    }
    if (this.running.kind === 'none') return;
    const pid = this.running.pid;
    void this.process.isAlive(pid).then((alive) => {
      if (alive || this.closed) return;
      void this.serial(async () => {
        if (this.running.kind === 'none' || this.running.pid !== pid || (await this.process.isAlive(pid))) return;
        this.logger.warn({ pid }, 'HAProxy is gone; starting it again');
        this.running = { kind: 'none' };
        this.live = undefined;
        this.cancelRemovals();
        this.control.admin.reset();
        this.health.gone();
        this.restartWanted = true;
        this.restartNotBefore = 0;
        await this.restart().catch(() => undefined);
      }).catch(() => undefined);
    });
  }

  /** One attempt to start HAProxy again after it died; a failure sets the next attempt's time (backoff). */
  private async restart(): Promise<void> {
    if (this.closed || !this.restartWanted || Date.now() < this.restartNotBefore) return;
    // A sync started it meanwhile.
    if (this.running.kind !== 'none') {
      this.restartWanted = false;
      return;
    }
    // Nothing rendered yet: the first sync starts it.
    if (!this.onDisk) return;
    // A failure sets the next attempt's time (nothingServes).
    if (this.config.update_strategy === 'reload') await this.startClassic(undefined);
    else await this.startMaster();
  }

  // ------------------------------------------------------------------ reloads

  /** At most one reload in flight (the queue) and at most one per reload_min_interval_ms; later requests coalesce. */
  private async requestReload(reasons: string[]): Promise<void> {
    const wait = this.lastReloadAt + this.config.reload_min_interval_ms - Date.now();
    if (wait > 0) {
      this.logger.info({ reasons, inMs: wait }, 'reload deferred (reload_min_interval_ms)');
      this.scheduleReload(wait);
      if (this.lastReloadError) throw this.lastReloadError;
      return;
    }
    this.logger.info({ reasons }, 'reloading HAProxy');
    await this.reloadNow();
  }

  private scheduleReload(delayMs: number): void {
    if (this.reloadTimer || this.closed) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      void this.serial(() => this.reloadNow()).catch((error: unknown) => {
        this.logger.error({ err: error }, `deferred HAProxy reload failed: ${errorMessage(error)}`);
        this.scheduleReload(this.reloadBackoff.next());
      });
    }, Math.max(0, delayMs));
    this.reloadTimer.unref();
  }

  private async reloadNow(): Promise<void> {
    if (this.closed || !this.onDisk) return;
    if (this.reloadTimer) {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = undefined;
    }
    // Never reload a file older than what the runtime API already applied.
    await this.file.ensure(this.onDisk);
    const rendered = this.onDisk;
    const classic = this.config.update_strategy === 'reload';
    if (classic && this.loadedConfig === textHash(rendered.text)) return;
    if (!classic) {
      this.completeLive(rendered);
      if (!computePlan(this.live, rendered, this.liveSkeleton).reload) return;
    }
    if (this.running.kind === 'none') {
      if (classic) await this.startClassic(undefined);
      else await this.startMaster();
      return;
    }
    this.lastReloadAt = Date.now();
    const started = Date.now();
    try {
      await this.refuseBusyListeners(rendered);
      if (classic || this.running.kind === 'classic') {
        // A master-worker HAProxy left by the runtime strategy is replaced the same way (-sf to its master).
        if (classic) await this.startClassic(this.running.pid);
        else await this.startMaster();
      } else {
        await this.dumpServerState();
        const proc = await this.process.reloadMaster(this.running.pid);
        this.logger.info({ worker: proc.workers[0]?.pid, ms: Date.now() - started }, 'HAProxy reloaded (master-worker)');
      }
    } catch (error) {
      this.control.counters.reloadFailures += 1;
      this.lastReloadError = error instanceof LighthouseError ? error : new LighthouseError('LH_HAPROXY_START', errorMessage(error), { file: this.paths.config });
      throw this.lastReloadError;
    }
    this.control.counters.reloads += 1;
    await this.loaded(rendered);
  }

  /**
   * A reload whose new listener cannot bind (another program holds the port)
   * is not attempted: HAProxy 2.6 retries such a bind for about two seconds
   * and pauses the old worker's listeners meanwhile, so every retry of the
   * writer would refuse connections on every port. Measured: hundreds of
   * refused requests per attempt. The error names the address and the
   * cluster; the writer retries with backoff, and the reload happens once the
   * port is free or the file is fixed.
   */
  private async refuseBusyListeners(rendered: RenderedConfig): Promise<void> {
    if (!this.loadedBinds) return;
    const held = this.loadedBinds;
    const busy = await busyTargets(bindTargets(rendered.text).filter((target) => !held.has(target.address)));
    if (busy.length === 0) return;
    const what = busy.map((target) => `${target.address}${rendered.owners[target.line] ? ` (${rendered.owners[target.line]})` : ''}`).join(', ');
    throw new LighthouseError('LH_HAPROXY_START', `cannot listen on ${what}: address already in use by another program; not reloading, the previous configuration keeps serving`, {
      file: this.paths.config,
    });
  }

  /** `show servers state` into the server-state file, so the new worker keeps drain/maint/weights and check results. */
  private async dumpServerState(): Promise<void> {
    try {
      const state = await this.control.command('show servers state');
      await atomicWrite(this.paths.serverState, `${state.trim()}\n`);
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot dump the server states before the reload; the new worker starts from the config');
      await atomicWrite(this.paths.serverState, EMPTY_SERVER_STATE).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------ runtime API

  /** Applies runtime ops in order; returns reasons for a reload where an op could not be applied. */
  private async applyOps(ops: readonly RuntimeOp[]): Promise<string[]> {
    const fallback: string[] = [];
    for (const op of ops) {
      const backend = this.live?.backends.get(op.backend);
      if (!backend) continue;
      const name = op.kind === 'remove' ? op.server : op.server.name;
      const target = `${op.backend}/${name}`;
      const started = performance.now();
      try {
        switch (op.kind) {
          case 'add':
            await this.addServer(op.backend, op.server);
            break;
          case 'restore':
            await this.restoreServer(op.backend, op.server);
            break;
          case 'set-addr':
            await this.setAddress(target, op.server.ip, op.server.port);
            backend.servers.set(name, { ...op.server, removing: false });
            break;
          case 'remove':
            await this.removeServer(op.backend, op.server);
            break;
        }
        this.control.counters.runtimeChanges += 1;
        this.logger.info({ op: op.kind, server: target, ms: Number((performance.now() - started).toFixed(2)) }, `runtime ${op.kind} ${target}`);
      } catch (error) {
        this.logger.warn({ err: error, op: op.kind, server: target }, `runtime API could not ${op.kind} ${target}; falling back to a reload`);
        fallback.push(`runtime ${op.kind} of ${target} failed: ${errorMessage(error)}`);
      }
    }
    return fallback;
  }

  private async expect(command: string, ok: RegExp): Promise<string> {
    const output = await this.control.command(command);
    if (!ok.test(output)) throw new LighthouseError('LH_HAPROXY_RUNTIME', `"${command}" answered: ${output.trim() || '(nothing)'}`);
    return output;
  }

  private async addServer(backendName: string, server: { name: string; ip: string; port: number }): Promise<void> {
    const backend = this.live!.backends.get(backendName)!;
    const runtime = backend.runtime;
    const target = `${backendName}/${server.name}`;
    if (!runtime) throw new LighthouseError('LH_HAPROXY_RUNTIME', `cannot add ${target} at run time: the running configuration of this backend is not known`);
    const options = runtime.addOptions.length > 0 ? ` ${runtime.addOptions.join(' ')}` : '';
    const output = await this.control.command(`add server ${target} ${server.ip}:${server.port}${options}`);
    if (/already exists/i.test(output)) {
      await this.restoreServer(backendName, server);
      return;
    }
    if (!/New server registered/i.test(output)) throw new LighthouseError('LH_HAPROXY_RUNTIME', `"add server ${target}" answered: ${output.trim()}`);
    // Dynamic servers start in maintenance with checks off.
    if (runtime.healthCheck) await this.expect(`enable health ${target}`, /^$/);
    if (runtime.agentCheck) await this.expect(`enable agent ${target}`, /^$/);
    if (!runtime.startsDisabled) await this.expect(`enable server ${target}`, /^$/);
    backend.servers.set(server.name, { ...server, removing: false });
  }

  private async restoreServer(backendName: string, server: { name: string; ip: string; port: number }): Promise<void> {
    const backend = this.live!.backends.get(backendName)!;
    const target = `${backendName}/${server.name}`;
    const task = this.removals.get(target);
    if (task) task.cancelled = true;
    this.removals.delete(target);
    const current = backend.servers.get(server.name);
    if (!current || current.ip !== server.ip || current.port !== server.port) {
      const output = await this.control.command(`set server ${target} addr ${server.ip} port ${server.port}`);
      if (/no such server/i.test(output)) {
        // The deletion won the race: add it anew.
        backend.servers.delete(server.name);
        await this.addServer(backendName, server);
        return;
      }
    }
    const output = await this.control.command(`enable server ${target}`);
    if (/no such server/i.test(output)) {
      backend.servers.delete(server.name);
      await this.addServer(backendName, server);
      return;
    }
    if (output.trim() !== '') throw new LighthouseError('LH_HAPROXY_RUNTIME', `"enable server ${target}" answered: ${output.trim()}`);
    backend.servers.set(server.name, { ...server, removing: false });
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
  private async removeServer(backendName: string, serverName: string): Promise<void> {
    const backend = this.live!.backends.get(backendName)!;
    const target = `${backendName}/${serverName}`;
    const output = await this.control.command(`disable server ${target}`);
    if (/no such server/i.test(output)) {
      backend.servers.delete(serverName);
      return;
    }
    if (output.trim() !== '') throw new LighthouseError('LH_HAPROXY_RUNTIME', `"disable server ${target}" answered: ${output.trim()}`);
    const server = backend.servers.get(serverName);
    if (server) backend.servers.set(serverName, { ...server, removing: true });
    const task = { cancelled: false };
    this.removals.set(target, task);
    void this.deleteWhenDrained(backend.servers, serverName, target, task);
  }

  private async deleteWhenDrained(servers: Map<string, { removing: boolean }>, serverName: string, target: string, task: { cancelled: boolean }): Promise<void> {
    const started = Date.now();
    const deadline = started + this.drainTimeoutMs;
    let forced = false;
    let attempts = 0;
    while (!task.cancelled && !this.closed) {
      attempts += 1;
      const output = await this.control.command(`del server ${target}`).catch((error: unknown) => errorMessage(error));
      if (task.cancelled) break;
      if (/Server deleted|No such server/i.test(output)) {
        if (servers.get(serverName)?.removing) servers.delete(serverName);
        this.logger.debug({ server: target, attempts, ms: Date.now() - started, forced }, 'server deleted');
        break;
      }
      if (!forced && Date.now() >= deadline) {
        forced = true;
        this.control.counters.forcedRemovals += 1;
        this.logger.warn({ server: target, drainMs: this.drainTimeoutMs }, 'removed server still has connections after the drain deadline; cutting them');
        await this.control.command(`shutdown sessions server ${target}`).catch(() => undefined);
      } else if (forced && Date.now() >= deadline + this.drainTimeoutMs) {
        this.logger.error({ server: target, answer: output }, 'removed server could not be deleted; it stays in maintenance until the next reload');
        break;
      }
      await sleep(this.deleteRetryMs);
    }
    if (this.removals.get(target) === task) this.removals.delete(target);
  }

  private cancelRemovals(): void {
    for (const task of this.removals.values()) task.cancelled = true;
    this.removals.clear();
  }

  drainingSessions(): Promise<DrainingServer[]> {
    return this.draining.read();
  }

  // ------------------------------------------------------------------ helpers

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Logs cross-check problems once each (they repeat on every sync until fixed). */
  private report(problems: readonly BalancerProblem[]): void {
    const current = new Set(problems.map((problem) => problem.message));
    for (const problem of problems) {
      if (!this.reported.has(problem.message)) {
        this.logger.error({ code: 'LH_CONFIG_REFERENCE', subject: problem.subject, file: this.options.file }, problem.message);
      }
    }
    for (const message of this.reported) if (!current.has(message)) this.logger.info({ resolved: message }, 'cluster problem resolved');
    this.reported = current;
  }

  private subjectOf(result: CheckResult, rendered: RenderedConfig): string {
    return result.ok ? 'haproxy' : (blame(result.lines, rendered)[0] ?? 'haproxy');
  }
}

/** Cluster names in `blame()` owners (`cluster "web"`, `cluster "web" frontend`, ...); a meta-cluster or global owner names none. */
function blamedClusters(owners: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const owner of owners) {
    const match = /^cluster "([^"]+)"/.exec(owner);
    if (match) names.add(match[1]!);
  }
  return names;
}

/** The refusal (its message already names the file), with what happened to the rest of the change; keeps its code. */
function refusalError(refusal: unknown, outcome: string): LighthouseError {
  const code = refusal instanceof LighthouseError ? refusal.code : 'LH_HAPROXY_START';
  return new LighthouseError(code, `${errorMessage(refusal)}; ${outcome}`, {}, { cause: refusal });
}

function toSet(values: readonly string[] | undefined): Set<string> | undefined {
  return values ? new Set(values) : undefined;
}
