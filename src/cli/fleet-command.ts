import { silentLogger } from '../lib/logger.js';
import { assertConfigDir, loadRegistries } from './common.js';
import { collectFleet, type FleetReport } from './fleet-view.js';
import { CliExit, writeOut } from './output.js';

export interface FleetOptions {
  cluster?: string;
  json?: boolean;
  /** seconds: exit 1 when a writer has not applied the newest version of a cluster for longer */
  within?: number;
  /** ms to wait for each discovery backend */
  timeout: number;
  plugin?: string[];
}

/** Writers behind the newest version for more than `withinSeconds`, as `writer (cluster)`. */
export function lateWriters(report: FleetReport, withinSeconds: number): string[] {
  const late: string[] = [];
  for (const cluster of report.clusters) {
    for (const writer of cluster.writers) if (!writer.current && writer.lagSeconds > withinSeconds) late.push(`${writer.writer} (${cluster.name}: ${writer.version ?? 'none'} of ${cluster.newest}, ${writer.lagSeconds} s)`);
  }
  return late;
}

export function formatFleetTable(report: FleetReport): string {
  const lines: string[] = [];
  // "0 live writers" would read as an answer when nothing could be read.
  if (report.writers.length === 0 && report.problems.length > 0) lines.push('live writers unknown: no acknowledgement could be read (problems below)');
  else lines.push(`${report.writers.length} live writer${report.writers.length === 1 ? '' : 's'}`);
  for (const writer of report.writers) lines.push(`  ${writer.writer}  pid ${writer.pid}  ${writer.lighthouse}  config ${writer.configDir}  (${writer.records.join(', ')})`);
  for (const cluster of report.clusters) {
    lines.push('');
    lines.push(`cluster ${cluster.name}: newest version ${cluster.newest ?? 'none'}`);
    const rows = cluster.writers.map((writer) => [
      writer.writer,
      writer.version ?? 'none',
      String(writer.members),
      writer.current ? 'current' : `behind ${writer.versionGap ?? '?'} (${writer.lagSeconds} s)`,
      writer.held.length > 0 ? `${writer.held.length} held` : '-',
      Object.entries(writer.draining).map(([server, sessions]) => `${server} (${sessions})`).join(' ') || '-',
    ]);
    const header = ['WRITER', 'VERSION', 'MEMBERS', 'STATE', 'HOLDS', 'DRAINING (sessions)'];
    const widths = header.map((title, index) => Math.max(title.length, ...rows.map((row) => row[index]!.length)));
    for (const row of [header, ...rows]) lines.push(`  ${row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index]!))).join('  ')}`);
  }
  for (const problem of report.problems) lines.push(`problem: ${problem}`);
  return `${lines.join('\n')}\n`;
}

export async function runFleet(configDir: string, options: FleetOptions): Promise<void> {
  await assertConfigDir(configDir);
  const registries = await loadRegistries(configDir, options.plugin ?? [], silentLogger());
  const report = await collectFleet(configDir, registries, { timeoutMs: options.timeout, cluster: options.cluster });
  await writeOut(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatFleetTable(report));
  if (options.cluster !== undefined && report.clusters.length === 0 && report.problems.length === 0) throw new CliExit(1, `lighthouse: no live writer acknowledges cluster "${options.cluster}"\n`);
  if (options.within !== undefined) {
    const late = lateWriters(report, options.within);
    if (late.length > 0) throw new CliExit(1, `lighthouse: ${late.length} writer${late.length === 1 ? ' has' : 's have'} not applied the newest version within ${options.within} s: ${late.join('; ')}\n`);
  }
  // Nothing could be read: the answer "all current" would be a lie.
  if (report.writers.length === 0 && report.problems.length > 0) throw new CliExit(1);
}
