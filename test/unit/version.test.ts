import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildInfo, readBuildInfo } from '../../src/lib/version.js';
import { createReporterMetrics, createWriterMetrics } from '../../src/lib/metrics.js';

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

test('buildInfo is package.json\'s name and version', () => {
  assert.deepEqual(buildInfo(), { name: manifest.name, version: manifest.version });
});

test('a missing or broken package.json gives version "unknown", not a crash', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lighthouse-version-'));
  try {
    assert.deepEqual(readBuildInfo(pathToFileURL(join(dir, 'package.json'))), { name: 'lighthouse-sd', version: 'unknown' });
    await writeFile(join(dir, 'package.json'), '{"name": "x", "version": ');
    assert.deepEqual(readBuildInfo(pathToFileURL(join(dir, 'package.json'))), { name: 'lighthouse-sd', version: 'unknown' });
    await writeFile(join(dir, 'package.json'), '{"name": "x", "version": 3}');
    assert.deepEqual(readBuildInfo(pathToFileURL(join(dir, 'package.json'))), { name: 'x', version: 'unknown' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

for (const [daemon, create] of [['writer', createWriterMetrics], ['reporter', createReporterMetrics]] as const) {
  test(`${daemon} metrics: lighthouse_build_info is 1 with package, version and node`, async () => {
    const text = await create().registry.metrics();
    const line = text.split('\n').find((entry) => entry.startsWith('lighthouse_build_info{'));
    assert.equal(line, `lighthouse_build_info{package="${manifest.name}",version="${manifest.version}",node="${process.version}",daemon="${daemon}"} 1`);
  });
}
