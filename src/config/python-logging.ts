import type { LogLevel, LogModule, LogSettings } from '../lib/logger.js';
import { fail, ok, type Result } from '../lib/result.js';

/**
 * The original Lighthouse's logging.yaml: a document for Python's
 * `logging.config.dictConfig` (docs.python.org, "Configuration dictionary
 * schema"). What maps onto ours: the root level, the levels of the original's
 * loggers (by module, table below) and where a stream or file handler of the
 * root writes. Handlers, formatters and filters are Python objects with no
 * counterpart: each is named in a warning and ignored.
 */

/** dictConfig's top-level keys; `version` is mandatory there, so it identifies the form. */
const DICT_CONFIG_KEYS = ['version', 'formatters', 'filters', 'handlers', 'loggers', 'root', 'incremental', 'disable_existing_loggers'];

export function isDictConfig(body: Record<string, unknown>): boolean {
  return 'version' in body || ['formatters', 'handlers', 'loggers', 'root'].some((key) => key in body);
}

/**
 * The original's loggers (its module names, `logging.getLogger(__name__)`)
 * by the module of ours that does the same work. `lighthouse` itself is the
 * whole program: it sets the overall level.
 */
const LOGGER_MODULES: readonly (readonly [prefix: string, module: LogModule])[] = [
  ['lighthouse.configs', 'config'],
  ['lighthouse.configurable', 'config'],
  ['lighthouse.zookeeper', 'discovery'],
  ['lighthouse.discovery', 'discovery'],
  ['kazoo', 'discovery'],
  ['lighthouse.haproxy', 'balancer'],
  ['lighthouse.balancer', 'balancer'],
  ['lighthouse.reporter', 'service'],
  ['lighthouse.service', 'service'],
  ['lighthouse.check', 'service'],
  ['lighthouse.checks', 'service'],
  ['lighthouse.redis', 'service'],
];

/** Python's level names and numbers (logging: CRITICAL 50 ... DEBUG 10, NOTSET 0). */
function mapLevel(value: unknown): LogLevel | 'notset' | undefined {
  const number = typeof value === 'number' ? value : undefined;
  const name = typeof value === 'string' ? value.toUpperCase() : undefined;
  if (number === 0 || name === 'NOTSET') return 'notset';
  if (number !== undefined && Number.isInteger(number) && number > 0) {
    return number >= 50 ? 'fatal' : number >= 40 ? 'error' : number >= 30 ? 'warn' : number >= 20 ? 'info' : number >= 10 ? 'debug' : 'trace';
  }
  switch (name) {
    case 'CRITICAL':
    case 'FATAL':
      return 'fatal';
    case 'ERROR':
      return 'error';
    case 'WARNING':
    case 'WARN':
      return 'warn';
    case 'INFO':
      return 'info';
    case 'DEBUG':
      return 'debug';
    default:
      return undefined;
  }
}

export interface DictConfigIssue {
  path: (string | number)[];
  message: string;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Our settings from a dictConfig document, with a warning for each part that
 * does not map. A level Python would refuse is an error (dictConfig raised
 * ValueError on it, so the original did not apply such a file either).
 */
export function fromDictConfig(body: Record<string, unknown>, defaultFormat: LogSettings['format']): Result<{ settings: LogSettings; warnings: DictConfigIssue[] }, DictConfigIssue[]> {
  const warnings: DictConfigIssue[] = [];
  const errors: DictConfigIssue[] = [];
  const levelAt = (value: unknown, path: (string | number)[]): LogLevel | 'notset' | undefined => {
    if (value === undefined) return undefined;
    const level = mapLevel(value);
    if (level === undefined) errors.push({ path, message: `${JSON.stringify(value)} is not a Python logging level (CRITICAL, ERROR, WARNING, INFO, DEBUG, NOTSET or a number)` });
    return level;
  };

  for (const key of Object.keys(body)) {
    if (!DICT_CONFIG_KEYS.includes(key)) warnings.push({ path: [key], message: 'ignored: not a Python logging.config.dictConfig key' });
  }
  if (body.incremental === true) warnings.push({ path: ['incremental'], message: 'ignored: every logging.yaml here replaces the whole logging setup' });

  const handlers = isRecord(body.handlers) ? body.handlers : {};
  for (const section of ['formatters', 'filters', 'handlers'] as const) {
    const entries = body[section];
    if (!isRecord(entries)) continue;
    for (const [name, entry] of Object.entries(entries)) {
      const kind = isRecord(entry) ? (entry.class ?? entry['()']) : undefined;
      const what = typeof kind === 'string' ? ` (${kind})` : '';
      const instead =
        section === 'handlers'
          ? "lines go to stdout, or to stderr or the file of the root's first stream or file handler, as json or pretty"
          : section === 'formatters'
            ? 'lines are json, or pretty on a terminal'
            : 'every line names its daemon and module';
      warnings.push({ path: [section, name], message: `ignored: a Python logging ${section.slice(0, -1)}${what}; here ${instead}` });
    }
  }

  // Python's root logger is at WARNING unless the file says otherwise.
  const root = isRecord(body.root) ? body.root : {};
  let level: LogLevel = 'warn';
  const rootLevel = levelAt(root.level, ['root', 'level']);
  if (rootLevel) level = rootLevel === 'notset' ? 'trace' : rootLevel;

  const modules: Partial<Record<LogModule, LogLevel>> = {};
  const loggers = isRecord(body.loggers) ? body.loggers : {};
  // Shorter names first: a package's level covers more lines than one of its modules', so it wins a tie.
  for (const name of Object.keys(loggers).sort((a, b) => a.length - b.length)) {
    const entry = loggers[name];
    const logger = isRecord(entry) ? entry : {};
    const loggerLevel = levelAt(logger.level, ['loggers', name, 'level']);
    if (!loggerLevel || loggerLevel === 'notset') continue; // NOTSET: the parent's level, which is what we do anyway
    if (name === 'lighthouse') {
      level = loggerLevel;
      continue;
    }
    const module = LOGGER_MODULES.find(([prefix]) => name === prefix || name.startsWith(`${prefix}.`))?.[1];
    if (!module) {
      warnings.push({ path: ['loggers', name], message: 'ignored: no part of this Lighthouse logs under that name (mapped: lighthouse, lighthouse.configs, .zookeeper, .discovery, kazoo, .haproxy, .balancer, .reporter, .service, .check(s), .redis)' });
    } else if (modules[module] !== undefined) {
      warnings.push({ path: ['loggers', name, 'level'], message: `ignored: module ${module} already takes its level from a broader logger` });
    } else {
      modules[module] = loggerLevel;
    }
  }

  // Where the root's handlers write: the first file or standard stream among them.
  let destination = 'stdout';
  const rootHandlers = Array.isArray(root.handlers) ? root.handlers : [];
  for (const handlerName of rootHandlers) {
    const handler = typeof handlerName === 'string' ? handlers[handlerName] : undefined;
    if (!isRecord(handler)) continue;
    if (typeof handler.filename === 'string' && handler.filename.startsWith('/')) {
      destination = handler.filename;
      break;
    }
    if (handler.stream === 'ext://sys.stderr') {
      destination = 'stderr';
      break;
    }
    if (handler.stream === 'ext://sys.stdout') break;
  }

  if (errors.length > 0) return fail(errors);
  const settings: LogSettings = { level, format: defaultFormat, destination };
  if (Object.keys(modules).length > 0) settings.modules = modules;
  return ok({ settings, warnings });
}
