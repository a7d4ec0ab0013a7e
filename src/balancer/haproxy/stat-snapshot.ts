import { adminSocket, parseStatCsv, type Row } from './runtime-api.js';

/** One server or proxy line of `show stat`, with the columns a status page needs (all columns in `raw`). */
export interface ServerStat {
  proxy: string;
  server: string;
  /** UP, DOWN, MAINT, DRAIN, no check, OPEN (frontends), ... */
  status: string;
  currentSessions: number;
  totalSessions: number;
  /** effective weight (ramps up during slow start); undefined for frontends and backends' empty columns */
  weight: number | undefined;
  /** a `backup` server */
  backup: boolean;
  /** the last health check's status and text (`L4CON Connection refused`), undefined for servers without checks */
  check: string | undefined;
  raw: Row;
}

export interface StatSnapshotOptions {
  /** the worker's admin socket */
  path: string;
  /** a snapshot younger than this is served as it is */
  maxAgeMs: number;
  /** deadline of one `show stat` */
  timeoutMs?: number;
  /** called for every `show stat` actually sent */
  onRead?(): void;
}

/**
 * `show stat` for status pages, kept off the writer's path.
 *
 * The writer sends its runtime changes over one serialized admin
 * connection; a `show stat` of 1,000 servers on that connection made a
 * change wait behind every status read queued before it (10 looping
 * dashboard clients: 2-4 ms watch->apply became 0.5-1.1 s). So reads go over
 * their own connection (HAProxy interleaves connections), at most one is in
 * flight, and its result is shared by every reader for `maxAgeMs`: any
 * number of readers cost at most one `show stat` per `maxAgeMs`.
 *
 * The connection is opened per read and closed after it: reads are rare,
 * and after a reload the socket path belongs to the new worker, which a
 * kept connection (to the old one) would not follow.
 */
export class StatSnapshot {
  /** the last answer, or why there was none (HAProxy down is also asked at most once per `maxAgeMs`); dropped once older than that */
  private cached: { at: number; stats: ServerStat[] } | { at: number; error: unknown } | undefined;
  private inFlight: Promise<ServerStat[]> | undefined;
  private expiry: NodeJS.Timeout | undefined;

  constructor(private readonly options: StatSnapshotOptions) {}

  read(): Promise<ServerStat[]> {
    const cached = this.cached;
    if (cached && Date.now() - cached.at < this.options.maxAgeMs) return 'stats' in cached ? Promise.resolve(cached.stats) : Promise.reject(cached.error);
    this.inFlight ??= this.fetch().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetch(): Promise<ServerStat[]> {
    const socket = adminSocket(this.options.path, { timeoutMs: this.options.timeoutMs ?? 5_000 });
    try {
      this.options.onRead?.();
      const answer = await socket.command('show stat').catch((error: unknown) => {
        this.keep({ at: Date.now(), error });
        throw error;
      });
      const stats = parseStats(answer);
      // Stamped when the answer arrived: a slow read is not served stale for longer.
      this.keep({ at: Date.now(), stats });
      return stats;
    } finally {
      socket.close();
    }
  }

  /**
   * Keeps an answer only while it may be served. At 10,000 servers one
   * answer is ~17 MB of heap (the 3 MB text and 11,000 rows); the writer
   * has two snapshots (status pages, draining sessions) and read each
   * seconds apart, so answers kept until the next read held ~34 MB for good:
   * a third of the idle writer's heap.
   */
  private keep(entry: NonNullable<StatSnapshot['cached']>): void {
    clearTimeout(this.expiry);
    this.cached = undefined;
    if (this.options.maxAgeMs <= 0) return;
    this.cached = entry;
    this.expiry = setTimeout(() => {
      this.cached = undefined;
    }, this.options.maxAgeMs);
    this.expiry.unref();
  }
}

/**
 * `show stat` rows with the few columns status pages and drain reads use;
 * `raw` (all 128 columns) is built only when asked for. Building every
 * column of 1,000 servers took 20-40 ms on the writer's event loop, once a
 * second while acknowledgements were written: a membership change arriving
 * meanwhile waited for it (the convergence p99).
 */
export function parseStats(text: string): ServerStat[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0];
  if (header === undefined || !header.startsWith('#')) return [];
  const columns = header.replace(/^#\s*/, '').split(',');
  const at = (name: string): number => columns.indexOf(name);
  const [pxname, svname, status, scur, stot, weight, bck] = [at('pxname'), at('svname'), at('status'), at('scur'), at('stot'), at('weight'), at('bck')];
  const needed = Math.max(pxname, svname, status, scur, stot, weight, bck) + 1;
  const stats: ServerStat[] = [];
  for (let index = 1; index < lines.length; index += 1) {
    const line = lines[index]!;
    const cells = leadingCells(line, needed);
    const cell = (column: number): string => (column < 0 ? '' : (cells[column] ?? ''));
    let checked: [string | undefined] | undefined;
    stats.push({
      proxy: cell(pxname),
      server: cell(svname),
      status: cell(status),
      currentSessions: Number(cell(scur)),
      totalSessions: Number(cell(stot)),
      weight: cell(weight) === '' ? undefined : Number(cell(weight)),
      backup: cell(bck) === '1',
      // Read from the line only when asked, and only for a checked server: its columns lie far to the right.
      get check(): string | undefined {
        return cell(status) === 'no check' || cell(status) === '' ? undefined : (checked ??= [checkText(parseStatCsv(`${header}\n${line}`)[0] ?? {})])[0];
      },
      get raw(): Row {
        return parseStatCsv(`${header}\n${line}`)[0] ?? {};
      },
    });
  }
  return stats;
}

/** The first `count` comma-separated cells of `line` (fewer if it has fewer). */
function leadingCells(line: string, count: number): string[] {
  const cells: string[] = [];
  let start = 0;
  while (cells.length < count) {
    const comma = line.indexOf(',', start);
    if (comma < 0) {
      cells.push(line.slice(start));
      break;
    }
    cells.push(line.slice(start, comma));
    start = comma + 1;
  }
  return cells;
}

/** `check_status` (a `* ` prefix while a check runs) and `last_chk`, HAProxy's own words for the last check. */
function checkText(row: Row): string | undefined {
  const status = (row.check_status ?? '').replace(/^\* /, '').trim();
  if (status === '') return undefined;
  const text = (row.last_chk ?? '').trim();
  return text === '' ? status : `${status} ${text}`;
}
