import type { Logger } from '../lib/logger.js';
import type { CheckSpec, ServiceItem } from '../config/model.js';
import { hashOf } from '../config/parse.js';
import type { CheckPlugin } from '../checks/plugin-types.js';
import type { PluginHelper } from '../lib/plugin-helper.js';
import type { Check } from '../checks/types.js';
import { feedRiseFall, initialRiseFall, type RiseFallState } from '../checks/rise-fall.js';
import { errorMessage } from '../lib/errors.js';
import { CheckLoop } from './check-loop.js';
import { Listeners } from './runner-events.js';
import type { CheckResult, CheckResultEvent, CheckStatus, TransitionEvent } from './runner-status.js';

/** The part of the check registry the runner needs. */
export interface CheckPluginLookup {
  get(kind: string): CheckPlugin | undefined;
}

export interface PortHealthOptions {
  checkPlugins: CheckPluginLookup;
  logger: Logger;
  /** wall clock for timestamps */
  now: () => number;
  /** the service as configured now (it changes with `ServiceRunner.update`) */
  item: () => ServiceItem;
  /** the address the checks connect to now: `host:`, else the registered address (see check-address.ts) */
  checkHost: () => string;
  /** results count only while the runner runs */
  running: () => boolean;
  /** a port went up or down: its registration follows */
  onChange: (port: number) => void;
}

interface PortChecks {
  port: number;
  checks: Map<string, CheckLoop>;
  /** every check of the port is up */
  up: boolean;
}

/** Least time between two "fails differently now" lines of one check. */
const REASON_LOG_GAP_MS = 60_000;

/**
 * The health of one service's ports: every check on every port is a
 * CheckLoop (check-loop.ts) with its own rise/fall state, and a port is up
 * while all its checks are up. Says when a port goes up or down; what that
 * means for its registration is port-registration.ts's job.
 */
export class PortHealth {
  readonly checkResults: Listeners<CheckResultEvent>;
  readonly transitions: Listeners<TransitionEvent>;
  private readonly ports = new Map<number, PortChecks>();
  private readonly logger: Logger;

  constructor(private readonly options: PortHealthOptions) {
    this.logger = options.logger;
    this.checkResults = new Listeners(options.logger);
    this.transitions = new Listeners(options.logger);
  }

  /** Starts checking a port; it starts down and goes up after `rise` passes of every check. */
  add(portNumber: number): void {
    const port: PortChecks = { port: portNumber, checks: new Map(), up: false };
    this.ports.set(portNumber, port);
    for (const spec of this.item.checks) this.addLoop(port, spec, initialRiseFall(false), null);
  }

  /** Stops checking a port removed from the config and forgets it: it is down from now on. */
  retire(portNumber: number): void {
    const port = this.ports.get(portNumber);
    if (!port) return;
    this.ports.delete(portNumber);
    for (const loop of port.checks.values()) this.retireLoop(loop, 'port removed from the config');
    this.logger.info(`service ${this.item.name} port ${portNumber}: removed from the config`);
  }

  /** Stops every check (the runner stops); the ports keep their last state for `status`. */
  stop(why: string): void {
    for (const port of this.ports.values()) {
      for (const loop of port.checks.values()) this.retireLoop(loop, why);
    }
  }

  isUp(portNumber: number): boolean {
    return this.ports.get(portNumber)?.up ?? false;
  }

  checks(portNumber: number): CheckStatus[] {
    const port = this.ports.get(portNumber);
    if (!port) return [];
    return [...port.checks.values()].map((loop) => ({
      kind: loop.spec.kind,
      up: loop.state.up,
      passes: loop.state.passes,
      fails: loop.state.fails,
      rise: loop.spec.rise,
      fall: loop.spec.fall,
      running: loop.running,
      last: loop.last,
    }));
  }

  /**
   * Brings a port's checks in line with the service's new config: unchanged
   * checks keep their state, changed checks get a new instance but keep their
   * rise/fall state, a check added to a port that is up starts up (it must
   * fail `fall` times to take the port down).
   */
  update(portNumber: number, previous: ServiceItem): void {
    const port = this.ports.get(portNumber);
    if (!port) return;
    const item = this.item;
    const wanted = new Map(item.checks.map((spec) => [spec.kind, spec]));
    for (const [kind, loop] of port.checks) {
      if (!wanted.has(kind)) {
        this.retireLoop(loop, 'check removed from the config');
        port.checks.delete(kind);
      }
    }
    for (const spec of item.checks) {
      const loop = port.checks.get(spec.kind);
      if (!loop) {
        this.addLoop(port, spec, initialRiseFall(port.up), null);
      } else if (loop.identity !== this.checkIdentity(spec)) {
        this.retireLoop(loop, 'check settings changed');
        this.addLoop(port, spec, loop.state, loop.last);
      } else {
        loop.spec = spec;
        if (item.intervalMs !== previous.intervalMs) loop.intervalChanged();
      }
    }
  }

  /** Decides the port again from its checks' verdicts; tells `onChange` when it went up or down. */
  evaluate(portNumber: number, cause: string): void {
    const port = this.ports.get(portNumber);
    if (port) this.decide(port, () => cause);
  }

  /** `cause` is built only for a port that went up or down (it runs after every check result). */
  private decide(port: PortChecks, why: () => string): void {
    let up = port.checks.size > 0;
    for (const loop of port.checks.values()) up &&= loop.state.up;
    if (up === port.up) return;
    port.up = up;
    const cause = why();
    const service = this.item.name;
    this.logger.info({ port: port.port, up }, `service ${service} port ${port.port} is ${up ? 'up' : 'down'} (${cause})`);
    this.transitions.emit({ service, port: port.port, up, at: this.options.now(), cause });
    this.options.onChange(port.port);
  }

  private get item(): ServiceItem {
    return this.options.item();
  }

  private checkIdentity(spec: CheckSpec): string {
    return hashOf({ kind: spec.kind, timeoutMs: spec.timeoutMs, config: spec.config, host: this.options.checkHost() });
  }

  private addLoop(port: PortChecks, spec: CheckSpec, state: RiseFallState, last: CheckResult | null): void {
    const loop: CheckLoop = new CheckLoop(spec, this.checkIdentity(spec), this.createCheck(port.port, spec), state, last, {
      intervalMs: () => this.item.intervalMs,
      active: this.options.running,
      now: this.options.now,
      onResult: (result) => this.record(port, loop, result),
    });
    port.checks.set(spec.kind, loop);
    loop.start();
  }

  private retireLoop(loop: CheckLoop, why: string): void {
    try {
      loop.retire(why);
    } catch (error) {
      this.logger.warn(`service ${this.item.name} check ${loop.spec.kind}: close failed: ${errorMessage(error)}`);
    }
  }

  private createCheck(port: number, spec: CheckSpec): Check {
    const item = this.item;
    const where = `service ${item.name} port ${port} check ${spec.kind}`;
    const plugin = this.options.checkPlugins.get(spec.kind);
    if (!plugin) return failingCheck(`no check plugin "${spec.kind}" is registered`);
    const helper: PluginHelper = {
      logger: this.logger.child({ port, check: spec.kind }),
      name: item.name,
      file: item.file,
      now: this.options.now,
    };
    try {
      return plugin.create(spec.config, { host: this.options.checkHost(), port }, helper);
    } catch (error) {
      this.logger.error(`${where}: could not be created: ${errorMessage(error)}`);
      return failingCheck(`check plugin "${spec.kind}" could not be created: ${errorMessage(error)}`);
    }
  }

  private record(port: PortChecks, loop: CheckLoop, result: CheckResult): void {
    loop.last = result;
    loop.state = feedRiseFall(loop.state, result.passed, { rise: loop.spec.rise, fall: loop.spec.fall }).state;
    this.logResult(port, loop, result);
    const event: CheckResultEvent = {
      passed: result.passed,
      detail: result.detail,
      durationMs: result.durationMs,
      at: result.at,
      service: this.item.name,
      port: port.port,
      check: loop.spec.kind,
      up: loop.state.up,
    };
    if (result.timedOut !== undefined) event.timedOut = result.timedOut;
    this.checkResults.emit(event);
    this.decide(port, () => `check ${loop.spec.kind}: ${result.detail}`);
  }

  /**
   * One line per failure episode, not per run: a flapping check logged a
   * warning on every failed run (269 a minute in #11). An episode starts with
   * a failed run and ends once the check is up with `rise` passes in a row;
   * within it a changed reason is logged again, at most once a minute (a
   * reason can carry a response body that differs on every run). Every run
   * is counted in `lighthouse_checks_total` and shown in `status`.
   */
  private logResult(port: PortChecks, loop: CheckLoop, result: CheckResult): void {
    // The common run (passing, no failure episode open, no debug): nothing to log, so nothing to build.
    if (result.passed && loop.failureLog === null && !this.logger.isLevelEnabled('debug')) return;
    const where = `service ${this.item.name} port ${port.port} check ${loop.spec.kind}`;
    const fields = { port: port.port, check: loop.spec.kind, code: result.timedOut === true ? 'LH_CHECK_TIMEOUT' : 'LH_CHECK_FAILED' };
    const episode = loop.failureLog;
    if (!result.passed) {
      if (episode === null) {
        loop.failureLog = { detail: result.detail, loggedAt: performance.now(), suppressed: 0 };
        this.logger.warn(fields, `${where} failed: ${result.detail}`);
      } else if (result.detail !== episode.detail && performance.now() - episode.loggedAt >= REASON_LOG_GAP_MS) {
        const repeats = episode.suppressed > 0 ? ` (${episode.suppressed} failed run(s) since the last line)` : '';
        this.logger.warn(fields, `${where} fails differently now: ${result.detail}${repeats}`);
        loop.failureLog = { detail: result.detail, loggedAt: performance.now(), suppressed: 0 };
      } else episode.suppressed += 1;
    } else if (episode !== null && loop.state.up && loop.state.passes >= loop.spec.rise) {
      loop.failureLog = null;
      this.logger.info(fields, `${where} passes again: ${result.detail}`);
    }
    if (this.logger.isLevelEnabled('debug')) this.logger.debug({ ...fields, passed: result.passed }, `${where}: ${result.detail}`);
  }
}

/** Stands in for a check that cannot run (unknown plugin, failed create), so the port stays down and says why. */
function failingCheck(detail: string): Check {
  return { run: () => Promise.resolve({ passed: false, detail }) };
}
