import type { DrainingServer } from '../types.js';
import { adminSocket } from './runtime-api.js';

/**
 * Servers of HAProxy in maintenance or drain that still have sessions, from
 * a `show stat` over its own connection (never queued behind the writer's
 * runtime changes), read fresh each time: a writer acknowledging a removal
 * must not report the sessions of a moment before it.
 */
export class DrainingSessions {
  constructor(private readonly path: string) {}

  async read(): Promise<DrainingServer[]> {
    const socket = adminSocket(this.path, { timeoutMs: 2_000 });
    try {
      return drainingInStat(await socket.command('show stat'));
    } finally {
      socket.close();
    }
  }
}

/**
 * The MAINT/DRAIN servers with sessions in a `show stat` answer. The writer
 * reads this once a second while changes come, on its event loop: building a
 * row for every server (parseStats) cost 1.6 ms at the median and up to
 * 17-39 ms with the garbage collections it caused (1,000 servers), and a
 * membership change arriving meanwhile waited for it (the convergence
 * p99, see docs/benchmarks.md). So each line is only scanned up to its
 * status cell, and cut into cells only when the status is MAINT or DRAIN.
 */
export function drainingInStat(text: string): DrainingServer[] {
  // Blank lines before the header are skipped, as parseStats skips them.
  const headerStart = text.search(/\S/);
  const headerEnd = text.indexOf('\n', headerStart);
  if (headerStart < 0 || text[headerStart] !== '#' || headerEnd < 0) return [];
  const columns = text.slice(headerStart, headerEnd).replace(/^#\s*/, '').split(',');
  const [pxname, svname, status, scur] = ['pxname', 'svname', 'status', 'scur'].map((name) => columns.indexOf(name)) as [number, number, number, number];
  if (pxname < 0 || svname < 0 || status < 0 || scur < 0) return [];
  const found: DrainingServer[] = [];
  for (let start = headerEnd + 1; start < text.length; ) {
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? text.length : newline;
    const at = cellStart(text, start, end, status);
    if (at >= 0 && (text.startsWith('MAINT', at) || text.startsWith('DRAIN', at))) {
      const cells = text.slice(start, end).split(',');
      const server = cells[svname] ?? '';
      const sessions = Number(cells[scur] ?? '');
      if (server !== 'BACKEND' && server !== 'FRONTEND' && sessions > 0) found.push({ cluster: cells[pxname] ?? '', server, sessions });
    }
    start = end + 1;
  }
  return found;
}

/** Where cell `index` of the line text[start, end) begins, or -1 when the line has fewer cells. */
function cellStart(text: string, start: number, end: number, index: number): number {
  let at = start;
  for (let cell = 0; cell < index; cell += 1) {
    const comma = text.indexOf(',', at);
    if (comma < 0 || comma >= end) return -1;
    at = comma + 1;
  }
  return at;
}
