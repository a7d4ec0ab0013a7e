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
  // The header is the first line that is not blank.
  let headerStart = 0;
  while (headerStart < text.length && text[headerStart]!.trim() === '') headerStart += 1;
  const headerEnd = text.indexOf('\n', headerStart);
  const header = text.slice(headerStart, headerEnd < 0 ? text.length : headerEnd);
  if (!header.startsWith('#')) return [];
  const columns = header.replace(/^#\s*/, '').split(',');
  const at = (name: string): number => columns.indexOf(name);
  const layout: Layout = { pxname: at('pxname'), svname: at('svname'), status: at('status'), scur: at('scur'), stot: at('stot'), weight: at('weight'), bck: at('bck') };
  const wanted: boolean[] = [];
  for (const column of Object.values(layout)) if (column >= 0) wanted[column] = true;
  const cells: string[] = [];
  const stats: ServerStat[] = [];
  for (let start = headerEnd + 1; headerEnd >= 0 && start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === '') continue;
    pickCells(line, wanted, cells);
    stats.push(new StatRow(header, line, layout, cells));
  }
  return stats;
}

/** Where the columns a row reads are in this answer's header (-1: absent). */
interface Layout {
  pxname: number;
  svname: number;
  status: number;
  scur: number;
  stot: number;
  weight: number;
  bck: number;
}

/**
 * One line of `show stat`. A class, not an object literal with getter
 * closures: at 10,000 servers a read makes 11,000 rows, and each literal
 * row carried three closures, their context and every leading cell
 * (~1.5 KB a row, 17 MB a read; the dashboard reads every 10 s).
 */
class StatRow implements ServerStat {
  readonly proxy: string;
  readonly server: string;
  readonly status: string;
  readonly currentSessions: number;
  readonly totalSessions: number;
  readonly weight: number | undefined;
  readonly backup: boolean;
  readonly #header: string;
  readonly #line: string;
  #checked: [string | undefined] | undefined;

  constructor(header: string, line: string, layout: Layout, cells: readonly string[]) {
    const cell = (column: number): string => (column < 0 ? '' : (cells[column] ?? ''));
    this.proxy = cell(layout.pxname);
    this.server = cell(layout.svname);
    this.status = cell(layout.status);
    this.currentSessions = Number(cell(layout.scur));
    this.totalSessions = Number(cell(layout.stot));
    this.weight = cell(layout.weight) === '' ? undefined : Number(cell(layout.weight));
    this.backup = cell(layout.bck) === '1';
    this.#header = header;
    this.#line = line;
  }

  /** Read from the line only when asked, and only for a checked server: its columns lie far to the right. */
  get check(): string | undefined {
    if (this.status === 'no check' || this.status === '') return undefined;
    this.#checked ??= [checkText(this.raw)];
    return this.#checked[0];
  }

  get raw(): Row {
    return parseStatCsv(`${this.#header}\n${this.#line}`)[0] ?? {};
  }
}

/**
 * Fills `into` with the cells of `line` in the columns `wanted` marks (''
 * for the others, up to the last wanted one); the other cells are skipped,
 * not cut out. `into` is reused from line to line.
 */
function pickCells(line: string, wanted: readonly boolean[], into: string[]): void {
  into.length = 0;
  let start = 0;
  for (let column = 0; column < wanted.length; column += 1) {
    if (start > line.length) break;
    let comma = line.indexOf(',', start);
    if (comma < 0) comma = line.length;
    into.push(wanted[column] === true ? line.slice(start, comma) : '');
    start = comma + 1;
  }
}

/** `check_status` (a `* ` prefix while a check runs) and `last_chk`, HAProxy's own words for the last check. */
function checkText(row: Row): string | undefined {
  const status = (row.check_status ?? '').replace(/^\* /, '').trim();
  if (status === '') return undefined;
  const text = (row.last_chk ?? '').trim();
  return text === '' ? status : `${status} ${text}`;
}
