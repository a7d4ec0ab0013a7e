import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWrite } from '../../lib/atomic-write.js';
import { Backoff } from '../../lib/backoff.js';
import { LighthouseError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { BalancedCluster, BalancerProblem, RenderedBalancerConfig } from '../types.js';
import { blame, ConfigRejectedError, explainRejection, type ConfigFile } from './config-file.js';
import { crossCheck, heldListeners } from './cross-check.js';
import { bindTargets, busyTargets } from './listeners.js';
import type { HaproxyPaths } from './paths.js';
import { computePlan } from './plan.js';
import type { CheckResult, HaproxyProcess } from './process.js';
import { renderConfig, type RenderedConfig } from './render.js';
import type { HaproxyControl } from './runtime-channel.js';
import type { RuntimeOps } from './runtime-ops.js';
import type { HaproxyClusterConfig, HaproxyConfig } from './schema.js';
import type { HaproxySupervisor } from './supervisor.js';
import { ZoneTransitions } from './zone-transitions.js';

type Cluster = BalancedCluster<HaproxyClusterConfig>;

/** How long a structure `haproxy -c` refused is taken as refused without checking it again (unless it changes). */
const REFUSAL_RECHECK_MS = 10_000;

export interface SyncPolicyOptions {
  config: HaproxyConfig;
  paths: HaproxyPaths;
  process: HaproxyProcess;
  control: HaproxyControl;
  file: ConfigFile;
  ops: RuntimeOps;
  supervisor: HaproxySupervisor;
  logger: Logger;
  /** balancer file, for messages */
  balancerFile: string | undefined;
  /** the balancer's one queue: a deferred reload never overlaps a sync or a restart */
  serial: <T>(work: () => Promise<T>) => Promise<T>;
}

/**
 * Decides how a desired state reaches HAProxy: the runtime API for
 * membership (the validated file follows in the background), a validated
 * write and a reload (at most one per reload_min_interval_ms, later ones
 * coalesced into a deferred reload) or a start for anything else, and what
 * to install instead when HAProxy refuses the file. Runs inside the
 * balancer's queue; the supervisor carries out starts and reloads, the
 * runtime ops the membership changes.
 */
export class SyncPolicy {
  /** the render HAProxy must end up with: in config_file, or about to be (background write) */
  private onDisk: RenderedConfig | undefined;
  /** what each installed cluster listened on: those keep their addresses in the next cross-check */
  private lastHeld = new Map<string, string>();
  /** the clusters (settings and members) of the render last installed in config_file: what a refused change falls back to */
  private installed: readonly Cluster[] | undefined;
  /** the last desired structure `haproxy -c` refused, with its error (a re-check only when it changes) */
  private refused: { skeleton: string; error: ConfigRejectedError; at: number } | undefined;
  private reported = new Set<string>();
  private skippedLogged = new Set<string>();
  private readonly zones: ZoneTransitions;

  /** on the monotonic clock: a wall-clock step back (NTP, a restored VM) must not defer reloads until it catches up */
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  private reloadTimer: NodeJS.Timeout | undefined;
  private lastReloadError: LighthouseError | undefined;
  private readonly reloadBackoff = new Backoff(500, 30_000);
  private closed = false;

  constructor(private readonly options: SyncPolicyOptions) {
    this.zones = new ZoneTransitions(options.logger, options.control.counters);
  }

  /** The render HAProxy must end up with (what a start or a restart loads). */
  get desired(): RenderedConfig | undefined {
    return this.onDisk;
  }

  /** HAProxy confirmed it loaded a config (a start counts too, for reload_min_interval_ms). */
  loaded(): void {
    // A start counts as a load for reload_min_interval_ms: a structural change right after it waits too.
    this.lastReloadAt = Math.max(this.lastReloadAt, performance.now());
    this.lastReloadError = undefined;
    this.reloadBackoff.reset();
  }

  close(): void {
    this.closed = true;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = undefined;
  }

  /** Checks the desired state with `haproxy -c` in a temporary folder, touching nothing that runs. */
  async validate(clusters: readonly Cluster[]): Promise<BalancerProblem[]> {
    const { accepted, problems } = crossCheck(this.options.config, clusters);
    const rendered = renderConfig(this.options.config, accepted);
    const dir = await mkdtemp(join(tmpdir(), 'lighthouse-haproxy-check-'));
    try {
      const file = join(dir, 'haproxy.cfg');
      await atomicWrite(file, rendered.text);
      const result = await this.options.process.check(file);
      if (!result.ok) problems.push({ subject: subjectOf(result, rendered), message: explainRejection(result, rendered) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return problems;
  }

  /**
   * Brings the worker to the desired render again without a new one (inside
   * the queue): a server deleted in the background to change its role
   * (backup or not) is added back here with the role it must have.
   */
  async reconcile(): Promise<void> {
    const { config, ops, supervisor } = this.options;
    const target = this.onDisk;
    if (this.closed || !target || config.update_strategy === 'reload' || supervisor.running.kind !== 'master') return;
    const plan = computePlan(supervisor.live, target, supervisor.liveSkeleton);
    // Anything structural waits for the reload already requested for it.
    if (plan.reload || plan.ops.length === 0) return;
    const fallback = await ops.apply(supervisor.live, plan.ops);
    if (fallback.length > 0) await this.requestReload(fallback);
  }

  /** What a sync would install for these clusters (those with problems left out, as a sync leaves them out), and where: for `config-dump`. */
  render(clusters: readonly Cluster[]): RenderedBalancerConfig {
    return { file: this.options.paths.config, text: renderConfig(this.options.config, crossCheck(this.options.config, clusters).accepted).text };
  }

  /** Waits for the background write of what membership syncs applied (inside the queue). */
  async ensureWritten(): Promise<void> {
    await this.options.file.ensure(this.onDisk);
  }

  async sync(clusters: readonly Cluster[]): Promise<void> {
    if (this.closed) return;
    const { config, logger, paths, supervisor } = this.options;
    const { accepted, problems } = crossCheck(config, clusters, this.lastHeld);
    this.report(problems);
    const desired = renderConfig(config, accepted);
    // Once each while they last: they repeat on every sync until the node or the file changes.
    const skipped = new Set(desired.skipped);
    for (const message of skipped) if (!this.skippedLogged.has(message)) logger.warn(message);
    this.skippedLogged = skipped;
    const zoneSettings = new Map(accepted.map((cluster) => [cluster.name, cluster.config.zone_aware]));
    this.zones.note(desired, (name) => zoneSettings.get(name));
    await supervisor.adopt();

    // A structure `haproxy -c` refused is checked again when it changes (its
    // file is edited), else at most every REFUSAL_RECHECK_MS: what it lacked
    // may appear without an edit (a certificate, an errorfile).
    const known = this.refused?.skeleton === desired.skeleton && performance.now() - this.refused.at < REFUSAL_RECHECK_MS ? this.refused.error : undefined;
    const refusal = known ?? (await this.install(desired, accepted));
    if (refusal === undefined) {
      if (this.refused) logger.info({ file: paths.config }, 'the configuration HAProxy refused before passes now or is no longer wanted; HAProxy runs the desired state');
      this.refused = undefined;
      return;
    }
    if (!known && refusal instanceof ConfigRejectedError) this.refused = { skeleton: desired.skeleton, error: refusal, at: performance.now() };

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
    const { config, file, ops, supervisor } = this.options;
    const held = heldListeners(config, clusters);

    if (config.update_strategy !== 'reload' && supervisor.running.kind === 'master') {
      supervisor.live?.completeRuntime(target);
      const plan = computePlan(supervisor.live, target, supervisor.liveSkeleton);
      if (!plan.reload) {
        // Membership only: the worker already runs this skeleton (HAProxy loaded
        // it, so it is valid), and server lines come from validated node data.
        // `haproxy -c` costs 35-60 ms with 1,000 servers, so the runtime API goes
        // first and the validated file follows in the background, coalesced.
        this.onDisk = target;
        this.installed = clusters;
        this.lastHeld = held;
        if (plan.ops.length > 0) {
          const fallback = await ops.apply(supervisor.live, plan.ops);
          if (!file.holds(target.text)) file.defer(target, fallback.length === 0);
          if (fallback.length > 0) await this.requestReload(fallback);
        } else if (!file.holds(target.text)) {
          file.defer(target, true);
        }
        return undefined;
      }
    }

    // Structural (or a start): validate and install before anything runs it.
    await file.settle();
    if (!file.holds(target.text)) {
      try {
        await file.writeValidated(target);
      } catch (error) {
        return error;
      }
    }
    this.onDisk = target;
    this.installed = clusters;
    this.lastHeld = held;

    if (config.update_strategy === 'reload') {
      await this.syncClassic();
      return undefined;
    }
    if (supervisor.running.kind !== 'master') {
      await supervisor.startMaster();
      return undefined;
    }
    supervisor.live?.completeRuntime(target);
    const plan = computePlan(supervisor.live, target, supervisor.liveSkeleton);
    if (plan.ops.length === 0 && !plan.reload) return undefined;
    const fallback = await ops.apply(supervisor.live, plan.ops);
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
      const render = renderConfig(this.options.config, clusters);
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
    const render = renderConfig(this.options.config, clusters);
    if (!tried.has(render.skeleton)) yield [render, clusters];
  }

  /** The original's strategy: every change is a new process with -sf. */
  private async syncClassic(): Promise<void> {
    const { supervisor } = this.options;
    if (supervisor.running.kind === 'none') {
      await supervisor.startClassic(undefined);
      return;
    }
    if (!supervisor.runs(this.onDisk!.text)) await this.requestReload(['update_strategy is "reload": every change reloads']);
  }

  /** At most one reload in flight (the queue) and at most one per reload_min_interval_ms; later requests coalesce. */
  private async requestReload(reasons: string[]): Promise<void> {
    const wait = this.lastReloadAt + this.options.config.reload_min_interval_ms - performance.now();
    if (wait > 0) {
      this.options.logger.info({ reasons, inMs: wait }, 'reload deferred (reload_min_interval_ms)');
      this.scheduleReload(wait);
      if (this.lastReloadError) throw this.lastReloadError;
      return;
    }
    this.options.logger.info({ reasons }, 'reloading HAProxy');
    await this.reloadNow();
  }

  private scheduleReload(delayMs: number): void {
    if (this.reloadTimer || this.closed) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      void this.options.serial(() => this.reloadNow()).catch((error: unknown) => {
        this.options.logger.error({ err: error }, `deferred HAProxy reload failed: ${errorMessage(error)}`);
        this.scheduleReload(this.reloadBackoff.next());
      });
    }, Math.max(0, delayMs));
    this.reloadTimer.unref();
  }

  private async reloadNow(): Promise<void> {
    if (this.closed || !this.onDisk) return;
    const { config, control, file, paths, supervisor } = this.options;
    if (this.reloadTimer) {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = undefined;
    }
    // Never reload a file older than what the runtime API already applied.
    await file.ensure(this.onDisk);
    const rendered = this.onDisk;
    const classic = config.update_strategy === 'reload';
    if (classic && supervisor.runs(rendered.text)) return;
    if (!classic) {
      supervisor.live?.completeRuntime(rendered);
      if (!computePlan(supervisor.live, rendered, supervisor.liveSkeleton).reload) return;
    }
    const running = supervisor.running;
    if (running.kind === 'none') {
      if (classic) await supervisor.startClassic(undefined);
      else await supervisor.startMaster();
      return;
    }
    this.lastReloadAt = performance.now();
    const started = Date.now();
    try {
      await this.refuseBusyListeners(rendered);
      await supervisor.reload(running, classic, started);
    } catch (error) {
      control.counters.reloadFailures += 1;
      this.lastReloadError = error instanceof LighthouseError ? error : new LighthouseError('LH_HAPROXY_START', errorMessage(error), { file: paths.config });
      throw this.lastReloadError;
    }
    control.counters.reloads += 1;
    await supervisor.loaded(rendered);
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
    const held = this.options.supervisor.loadedBinds;
    if (!held) return;
    const busy = await busyTargets(bindTargets(rendered.text).filter((target) => !held.has(target.address)));
    if (busy.length === 0) return;
    const what = busy.map((target) => `${target.address}${rendered.owners[target.line] ? ` (${rendered.owners[target.line]})` : ''}`).join(', ');
    throw new LighthouseError('LH_HAPROXY_START', `cannot listen on ${what}: address already in use by another program; not reloading, the previous configuration keeps serving`, {
      file: this.options.paths.config,
    });
  }

  /** Logs cross-check problems once each (they repeat on every sync until fixed). */
  private report(problems: readonly BalancerProblem[]): void {
    const current = new Set(problems.map((problem) => problem.message));
    for (const problem of problems) {
      if (!this.reported.has(problem.message)) {
        this.options.logger.error({ code: 'LH_CONFIG_REFERENCE', subject: problem.subject, file: this.options.balancerFile }, problem.message);
      }
    }
    for (const message of this.reported) if (!current.has(message)) this.options.logger.info({ resolved: message }, 'cluster problem resolved');
    this.reported = current;
  }
}

function subjectOf(result: CheckResult, rendered: RenderedConfig): string {
  return result.ok ? 'haproxy' : (blame(result.lines, rendered)[0] ?? 'haproxy');
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
