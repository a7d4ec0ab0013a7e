import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { parseConfigFile } from '../../src/config/parse.js';
import type { ItemKind } from '../../src/config/model.js';
import { registerBuiltins } from '../../src/daemon/builtins.js';
import { createRegistries } from '../../src/plugins/registry.js';
import { sleep } from '../../src/lib/deadline.js';
import { LONG, LoadGenerator, recordResult, writeAtomic } from '../support/chaos.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';
import { seededRandom } from '../support/random.js';
import { atLeast } from '../support/strict-json.js';

/**
 * Chaos 7: 1,000 random mutations (10,000 with CHAOS_LONG=1) of the valid
 * config files of a running writer and reporter, under load: truncation,
 * wrong types, huge values, binary junk, deep nesting, YAML alias bombs,
 * oversized files, symlinks (to /dev/zero, a directory, nowhere, a loop),
 * a FIFO, and files made unreadable. No daemon may crash, every rejection
 * they log names its file, and what was in force stays in force: the HAProxy
 * config, the routed members and the registrations do not change.
 */

const COUNT = LONG ? 10_000 : 1_000;


interface Target {
  path: string;
  kind: ItemKind;
  original: string;
  /** a symlink or FIFO is there now: the next write must replace it, not write through it */
  special: boolean;
}

type Mutation = { kind: string; text: Buffer } | { kind: string; link: string } | { kind: 'fifo' };

let stack: ChaosStack;

before(async () => {
  // The backends share this process with the mutation generator, whose parses block it now and then: a single slow check must not count as down.
  stack = await ChaosStack.start({ reporters: [1, 1], checkFall: 3 });
});

after(async () => {
  await stack?.stop();
});

test(`chaos 7: ${COUNT} fuzzed config files: no crash, every rejection names its file, the good state stays`, { timeout: LONG ? 900_000 : 180_000 }, async (t) => {
  const rand = seededRandom(7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const registries = createRegistries();
  registerBuiltins(registries);
  const reporter = stack.reporters[0]!;
  const targets: Target[] = [];
  for (const [path, kind] of [
    [join(stack.writerDir, 'clusters', 'web.yaml'), 'cluster'],
    [join(stack.writerDir, 'balancers', 'haproxy.yaml'), 'balancer'],
    [join(stack.writerDir, 'discovery', 'zk.yaml'), 'discovery'],
    [join(reporter.dir, 'services', 'web.yaml'), 'service'],
    [join(reporter.dir, 'discovery', 'zk.yaml'), 'discovery'],
  ] as const) {
    targets.push({ path, kind, original: await readFile(path, 'utf8'), special: false });
  }
  const junk = (length: number): Buffer => Buffer.from(Array.from({ length }, () => Math.floor(rand() * 256)));
  const scalarPositions = (text: string): [number, number][] => [...text.matchAll(/: ([^\n]+)/g)].map((match) => [match.index + 2, match.index + match[0].length]);

  /** Text mutations are kept only when the daemons' own parser rejects them: a valid mutation would legitimately change the state. */
  const textMutation = (target: Target): { kind: string; text: Buffer } => {
    for (;;) {
      const original = target.original;
      const kind = pick(['truncation', 'wrong type', 'huge value', 'binary junk', 'junk inserted', 'deep nesting', 'alias bomb', 'oversized file', 'tabs and duplicate keys']);
      let text: Buffer;
      const spots = scalarPositions(original);
      const [from, to] = pick(spots);
      const replace = (value: string): Buffer => Buffer.from(original.slice(0, from) + value + original.slice(to));
      switch (kind) {
        case 'truncation':
          text = Buffer.from(original.slice(0, Math.floor(rand() * original.length)));
          break;
        case 'wrong type':
          text = replace(pick(['abc', '[1, 2]', '{a: 1}', '-1', 'true', 'null', '1e400', '~', '0x10', '"\\u0000"']));
          break;
        case 'huge value':
          text = replace(rand() < 0.5 ? 'x'.repeat(200_000) : '9'.repeat(400));
          break;
        case 'binary junk':
          text = junk(1 + Math.floor(rand() * 4096));
          break;
        case 'junk inserted': {
          const at = Math.floor(rand() * original.length);
          text = Buffer.concat([Buffer.from(original.slice(0, at)), junk(1 + Math.floor(rand() * 64)), Buffer.from(original.slice(at))]);
          break;
        }
        case 'deep nesting': {
          const depth = pick([50, 500, 5_000]);
          text = replace(rand() < 0.5 ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`);
          break;
        }
        case 'alias bomb': {
          const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
          for (let level = 1; level < 9; level += 1) lines.push(`${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${Array(10).fill(`*${String.fromCharCode(96 + level)}`).join(',')}]`);
          text = Buffer.from(`${original}\n${lines.join('\n')}\n`);
          break;
        }
        case 'oversized file':
          // A megabyte per write: kept rarer than the rest so the run stays short.
          if (rand() < 0.6) continue;
          text = Buffer.from(`${original}\n# ${'x'.repeat(1_100_000)}\n`);
          break;
        default:
          text = Buffer.from(`${original}\n\t${original.split('\n')[0]}\n${original.split('\n')[0]}\n`);
      }
      let decoded: string;
      try {
        decoded = new TextDecoder('utf-8', { fatal: true }).decode(text);
      } catch {
        return { kind, text };
      }
      if (text.length > 1024 * 1024) return { kind, text };
      const parsed = parseConfigFile(target.kind, target.path, decoded, basename(target.path, extname(target.path)), registries);
      if (!parsed.ok) return { kind, text };
    }
  };

  const mutation = (target: Target): Mutation => {
    const roll = rand();
    if (roll < 0.06) return { kind: 'symlink', link: pick(['/dev/zero', '/dev/null', '/', join(dirname(target.path), 'nowhere', 'x.yaml'), target.path]) };
    if (roll < 0.08) return { kind: 'fifo' };
    return textMutation(target);
  };

  const config = await stack.haproxyConfig();
  const routed = await stack.routed();
  const registered = await stack.registrations();
  const load = new LoadGenerator(stack.webPort, { pauseMs: 20 });
  await waitFor(() => load.report.sent > 20, 'some load first');

  const kinds = new Map<string, number>();
  let unreadable = 0;
  for (let index = 0; index < COUNT; index += 1) {
    const target = pick(targets);
    const change = mutation(target);
    kinds.set(change.kind, (kinds.get(change.kind) ?? 0) + 1);
    const temp = join(dirname(target.path), `.fuzz-${index}`);
    // Special files are put in place by rename, so the file never goes missing (a missing file is a removal, not a mutation).
    if ('link' in change) {
      // A link to the file itself is a loop once renamed over it.
      await symlink(change.link, temp);
      await rename(temp, target.path);
      target.special = true;
    } else if (!('text' in change)) {
      execFileSync('mkfifo', [temp]);
      await rename(temp, target.path);
      target.special = true;
    } else if (target.special || rand() < 0.5) {
      await writeFile(temp, change.text);
      await rename(temp, target.path);
      target.special = false;
    } else {
      await writeFile(target.path, change.text);
      if (rand() < 0.05) {
        // Unreadable (the daemons run as root here, so they still read it; as a service user this is EACCES).
        await chmod(target.path, 0o000);
        unreadable += 1;
      }
    }
    await sleep(3);
  }
  // Let the last scans finish, then everything must be as before.
  await sleep(500);
  assert.ok(stack.writer.alive && reporter.process.alive, 'no daemon exited');
  assert.equal(await stack.haproxyConfig(), config, 'the HAProxy config is unchanged');
  assert.deepEqual(await stack.routed(), routed, 'the same members are routed');
  assert.deepEqual(await stack.registrations(), registered, 'the same registrations exist');

  // Every code a config problem is logged under (docs/errors.md), not only LH_CONFIG_INVALID.
  const CONFIG_PROBLEM_CODES = ['LH_CONFIG_INVALID', 'LH_CONFIG_PARSE', 'LH_CONFIG_DIRECTIVE', 'LH_CONFIG_REFERENCE', 'LH_PLUGIN_UNKNOWN'];
  const rejections = [stack.writer, reporter.process].flatMap((daemon) => daemon.lines.filter((line) => CONFIG_PROBLEM_CODES.includes(String(line.code))));
  const paths = new Set(targets.map((target) => target.path));
  for (const line of rejections) {
    assert.ok(paths.has(String(line.file)), `a rejection names its file: ${JSON.stringify(line).slice(0, 300)}`);
    assert.ok(String(line.msg).startsWith(`${String(line.file)}: `), `the message starts with the file: ${String(line.msg).slice(0, 200)}`);
  }
  const fatal = [stack.writer, reporter.process].flatMap((daemon) => daemon.lines.filter((line) => atLeast(line, 'fatal') || /scan failed/.test(String(line.msg))));
  assert.deepEqual(fatal.map((line) => line.msg), [], 'no uncaught exception, no failed scan');

  // The originals back: nothing to do, and a real change still applies.
  for (const target of targets) await writeAtomic(target.path, target.original);
  reporter.backends[0]!.healthy = false;
  await stack.waitConverged();
  reporter.backends[0]!.healthy = true;
  await stack.waitConverged();
  const report = await load.stop();
  t.diagnostic(`mutations: ${[...kinds].map(([kind, count]) => `${kind} ${count}`).join(', ')}; chmod 000: ${unreadable}`);
  recordResult({ scenario: `7 ${COUNT} fuzzed config files`, requests: report.sent, failed: report.failed, lost: await stack.lost(), recoveryMs: undefined, note: `${rejections.length} rejections logged, each naming its file` }, (m) => t.diagnostic(m));
  assert.ok(rejections.length > COUNT / 10, `the daemons saw and rejected the mutations (${rejections.length} rejections)`);
  assert.equal(report.failed, 0, `failed requests: ${report.errors.join('; ')}`);
  assert.equal(await stack.lost(), 0);
});
