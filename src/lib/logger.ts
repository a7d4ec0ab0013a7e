import { createWriteStream, type WriteStream } from 'node:fs';
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import pinoPretty from 'pino-pretty';

export type Logger = PinoLogger;
export type Daemon = 'writer' | 'reporter' | 'cli' | 'demo';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Parts of a daemon whose level can be set on its own (logging.yaml `modules:`). */
export const LOG_MODULES = ['config', 'discovery', 'balancer', 'service'] as const;
export type LogModule = (typeof LOG_MODULES)[number];

export interface LogSettings {
  level: LogLevel;
  /** levels of single modules, overriding `level` for their lines */
  modules?: Partial<Record<LogModule, LogLevel>>;
  /** `pretty` for people at a terminal, `json` for log shippers. */
  format: 'json' | 'pretty';
  /** `stdout`, `stderr` or a file path (appended to). */
  destination: string;
}

export function defaultLogSettings(stream: NodeJS.WriteStream = process.stdout): LogSettings {
  return { level: 'info', format: stream.isTTY ? 'pretty' : 'json', destination: 'stdout' };
}

/**
 * A destination whose target can be swapped at run time, so that a changed
 * logging.yaml takes effect without rebuilding every child logger.
 */
class SwitchableDestination implements DestinationStream {
  private target: { write(line: string): unknown } = process.stdout;
  private owned: WriteStream | undefined;
  private ownedPath: string | undefined;

  write(line: string): void {
    this.target.write(line);
  }

  configure(settings: LogSettings, daemon: Daemon): void {
    // A reload that keeps the file keeps its stream: two streams on one file
    // raced, the new one's open could finish first and put later lines before
    // earlier ones.
    const keep = this.owned !== undefined && this.ownedPath === settings.destination;
    const previous = keep ? undefined : this.owned;
    const { stream: raw, owned } = keep ? { stream: this.owned!, owned: this.owned } : openDestination(settings.destination);
    this.owned = owned;
    this.ownedPath = owned ? settings.destination : undefined;
    this.target =
      settings.format === 'pretty'
        ? pinoPretty({
            destination: raw,
            colorize: raw === process.stdout ? Boolean(process.stdout.isTTY) : raw === process.stderr ? Boolean(process.stderr.isTTY) : false,
            messageFormat: `${daemon.toUpperCase()} {if module}[{module}] {end}{msg}`,
            ignore: 'pid,hostname,daemon,module',
            translateTime: 'SYS:HH:MM:ss.l',
            sync: true,
          })
        : raw;
    previous?.end();
  }
}

function openDestination(destination: string): { stream: NodeJS.WritableStream; owned?: WriteStream } {
  if (destination === 'stdout') return { stream: process.stdout };
  if (destination === 'stderr') return { stream: process.stderr };
  const file = createWriteStream(destination, { flags: 'a' });
  return { stream: file, owned: file };
}

export interface DaemonLogger {
  logger: Logger;
  reconfigure(settings: LogSettings): void;
}

/** The LogModule a child logger's `module` binding belongs to (`balancer:haproxy` -> balancer). */
function moduleFamily(module: unknown): LogModule | undefined {
  if (typeof module !== 'string') return undefined;
  if (module === 'config') return 'config';
  if (module.startsWith('discovery:') || module === 'zookeeper' || module === 'etcd') return 'discovery';
  if (module.startsWith('balancer:')) return 'balancer';
  if (module.startsWith('service:') || module === 'service-runner' || module === 'drains') return 'service';
  return undefined;
}

/** What the command line says about logging; it wins over logging.yaml, also after a reload. */
export interface LogOverrides {
  /** `--log-level` / LIGHTHOUSE_LOG_LEVEL: every line at this level, logging.yaml's `level` and `modules:` aside */
  level?: LogLevel;
}

function withOverrides(settings: LogSettings, overrides: LogOverrides): LogSettings {
  return overrides.level === undefined ? settings : { ...settings, level: overrides.level, modules: undefined };
}

/**
 * Every line carries `daemon` so mixed logs (journald, demo) say who wrote it.
 * Levels are names and times ISO 8601 (UTC), as log pipelines expect; pino's
 * numbers and epoch milliseconds needed a lookup table and a conversion in
 * every one of them.
 */
export function createDaemonLogger(daemon: Daemon, requested: LogSettings = defaultLogSettings(), overrides: LogOverrides = {}): DaemonLogger {
  const settings = withOverrides(requested, overrides);
  const destination = new SwitchableDestination();
  destination.configure(settings, daemon);
  let current = settings;
  // Child loggers with a module, weakly held: a changed logging.yaml re-levels the live ones.
  const children = new Set<WeakRef<Logger>>();
  const levelOf = (family: LogModule): LogLevel => current.modules?.[family] ?? current.level;
  const logger = pino(
    {
      level: settings.level,
      base: { daemon },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { logMethod: dropBoundKeys },
      onChild: (child) => {
        const family = moduleFamily(child.bindings().module);
        if (!family) return;
        child.level = levelOf(family);
        children.add(new WeakRef(child));
        // Children of services and checks come and go with config edits: forget the collected ones now and then.
        if (children.size % 256 === 0) for (const ref of children) if (!ref.deref()) children.delete(ref);
      },
    },
    destination,
  );
  dedupeChildren(logger);
  return {
    logger,
    reconfigure(requestedNext: LogSettings): void {
      const next = withOverrides(requestedNext, overrides);
      destination.configure(next, daemon);
      current = next;
      logger.level = next.level;
      for (const ref of children) {
        const child = ref.deref();
        const family = child && moduleFamily(child.bindings().module);
        if (child && family) child.level = levelOf(family);
        else children.delete(ref);
      }
    },
  };
}

/**
 * pino writes a child's bindings after its parent's without merging them, so
 * a key bound twice appeared twice on every line (`"module":"service:web",
 * "module":"service-runner"`), which strict JSON parsers refuse. Children of
 * a daemon logger (and theirs: pino makes a child with Object.create, so they
 * inherit this `child`) bind only keys their parent does not carry yet: the
 * parent's value, the wider context, stays. Plugins' loggers included.
 */
function dedupeChildren(logger: Logger): void {
  const pinoChild = logger.child;
  const child = function (this: Logger, bindings: Record<string, unknown>, options?: unknown) {
    const bound = this.bindings();
    const fresh = Object.fromEntries(Object.entries(bindings).filter(([key]) => !(key in bound)));
    return pinoChild.call(this, fresh, options as Parameters<Logger['child']>[1]);
  };
  logger.child = child as Logger['child'];
}

/**
 * The same for the fields of one call (`logger.warn({service}, ...)` on a
 * logger bound to that service): a field the logger is bound to is left out
 * of the line's own fields, so each key appears once.
 */
function dropBoundKeys(this: Logger, args: Parameters<Logger['info']>, method: (...args: unknown[]) => void): void {
  const [first, ...rest] = args as unknown[];
  if (typeof first !== 'object' || first === null || first instanceof Error) return method.apply(this, args as unknown[]);
  const bound = { daemon: true, ...this.bindings() };
  const fields = first as Record<string, unknown>;
  if (!Object.keys(fields).some((key) => key in bound)) return method.apply(this, args as unknown[]);
  return method.apply(this, [Object.fromEntries(Object.entries(fields).filter(([key]) => !(key in bound))), ...rest]);
}

/** A logger that drops everything: for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
