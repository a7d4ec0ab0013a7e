#!/usr/bin/env node
// Runs every *.test.ts under the given folder with node's test runner
// (Node 20's --test takes no globs, and does not pick up .ts files itself).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const [folder, concurrency = '1', ...extra] = process.argv.slice(2);
if (!folder) {
  console.error('usage: run-tests.mjs FOLDER [CONCURRENCY] [node --test options...]');
  process.exit(2);
}
const files = readdirSync(folder, { recursive: true })
  .map(String)
  .filter((name) => name.endsWith('.test.ts'))
  .sort()
  .map((name) => join(folder, name));
if (files.length === 0) {
  console.error(`run-tests: no *.test.ts files under ${folder}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...extra, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
