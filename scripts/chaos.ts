/**
 * `npm run chaos`: runs every chaos scenario (test/integration/chaos-*.test.ts)
 * against the real daemons, ZooKeeper and HAProxy, then prints one table of
 * what was measured. CHAOS_LONG=1 runs the long variants (minutes-long
 * outages, 10,000 fuzz cases). Exit status is the test run's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Row {
  scenario: string;
  requests: number;
  failed: number;
  lost: number;
  recoveryMs: number | null;
  note?: string;
}

const root = fileURLToPath(new URL('../', import.meta.url));
const folder = join(root, 'test', 'integration');
const files = readdirSync(folder)
  .filter((name) => name.startsWith('chaos-') && name.endsWith('.test.ts'))
  .sort()
  .map((name) => join(folder, name));
const dir = mkdtempSync(join(tmpdir(), 'lighthouse-chaos-results-'));
const results = join(dir, 'results.jsonl');
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CHAOS_RESULTS: results },
});

let rows: Row[] = [];
try {
  rows = readFileSync(results, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Row)
    .sort((a, b) => a.scenario.localeCompare(b.scenario, undefined, { numeric: true }));
} catch {
  // no scenario got as far as recording a result
}
rmSync(dir, { recursive: true, force: true });

const header = ['scenario', 'requests', 'failed', 'registrations lost', 'recovery'];
const table = rows.map((row) => [row.scenario, String(row.requests), String(row.failed), String(row.lost), row.recoveryMs === null || row.recoveryMs === undefined ? '-' : `${Math.round(row.recoveryMs)} ms`]);
const widths = header.map((title, column) => Math.max(title.length, ...table.map((cells) => cells[column]!.length)));
const line = (cells: string[]): string => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
console.log(`\nChaos results${process.env.CHAOS_LONG === '1' ? ' (long variants)' : ''}: recovery times are measured, never asserted; the tests assert outcomes.\n`);
console.log(line(header));
console.log(widths.map((width) => '-'.repeat(width)).join('  '));
for (const cells of table) console.log(line(cells));
console.log('');
for (const row of rows) if (row.note) console.log(`${row.scenario}: ${row.note}`);
if (rows.length === 0) console.log('(no results recorded)');
process.exit(run.status ?? 1);
