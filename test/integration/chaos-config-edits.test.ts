import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../src/lib/deadline.js';
import { clusterYaml, LoadGenerator, recordResult, serviceYaml } from '../support/chaos.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait-for.js';
import { ChaosStack } from './chaos-stack.js';

/**
 * Chaos 9: config files edited in every style an operator or a tool uses,
 * while the daemons run: atomic rename, in-place truncate and write (in two
 * slow halves), `sed -i`, vim's swap-file dance, emacs' backup rename,
 * delete and re-create, and bursts of edits. Each edit first writes an
 * intermediate value, then the final one: what is in force afterwards must
 * always be the file's final content. The served cluster must not notice.
 */

type Style = (path: string, text: string) => Promise<void>;

const styles: Record<string, Style> = {
  'atomic rename': async (path, text) => {
    await writeFile(join(dirname(path), '.edit.tmp'), text);
    await rename(join(dirname(path), '.edit.tmp'), path);
  },
  'truncate + write in two halves': async (path, text) => {
    const handle = await open(path, 'w');
    await handle.write(text.slice(0, text.length / 2));
    await sleep(60);
    await handle.write(text.slice(text.length / 2));
    await handle.close();
  },
  'sed -i': async (path, text) => {
    // sed writes a temp file in the same folder and renames it over the original.
    const current = await readFile(path, 'utf8');
    const [from, to] = [current.split('\n'), text.split('\n')];
    const index = from.findIndex((line, i) => line !== to[i]);
    execFileSync('sed', ['-i', `${index + 1}s/.*/${to[index]!.replace(/[/&\\]/g, '\\$&')}/`, path]);
  },
  'vim swap files': async (path, text) => {
    const swap = join(dirname(path), `.${path.split('/').pop()}.swp`);
    await writeFile(swap, 'b0VIM 9.0');
    await rename(path, `${path}~`);
    await writeFile(path, text);
    await unlink(`${path}~`);
    await unlink(swap);
  },
  'emacs backup': async (path, text) => {
    const autosave = join(dirname(path), `#${path.split('/').pop()}#`);
    await writeFile(autosave, text);
    await rename(path, `${path}~`);
    await writeFile(path, text);
    await unlink(autosave);
  },
  'delete and re-create': async (path, text) => {
    await unlink(path);
    await writeFile(path, text);
  },
  'burst of 5 edits': async (path, text) => {
    for (let index = 0; index < 4; index += 1) await writeFile(path, `${text}# burst ${index}\n`);
    await writeFile(path, text);
  },
};

let stack: ChaosStack;

before(async () => {
  stack = await ChaosStack.start({ reporters: [1, 1] });
});

after(async () => {
  await stack?.stop();
});

test('chaos 9: config edits in every style end in the file\'s final content, for writer and reporter', { timeout: 180_000 }, async (t) => {
  const clusterFile = join(stack.writerDir, 'clusters', 'edited.yaml');
  const reporter = stack.reporters[0]!;
  const serviceFile = join(reporter.dir, 'services', 'web.yaml');
  const ports = await freePorts(Object.keys(styles).length * 2 + 1);
  await writeFile(clusterFile, clusterYaml(ports.pop()!));
  const load = new LoadGenerator(stack.webPort);
  await waitFor(() => load.report.sent > 20, 'some load first');
  const registration = `${stack.servicePath}/${reporter.host}:${reporter.backends[0]!.port}`;
  const metadataOf = async (): Promise<string> => JSON.parse(JSON.parse((await stack.admin.getData(registration)).data.toString('utf8')).metadata as string).edit as string;
  const service = (edit: string): string =>
    serviceYaml(reporter.host, reporter.backends.map((backend) => backend.port)).replace('checks:', `metadata:\n  edit: "${edit}"\nchecks:`);
  await writeFile(serviceFile, service('start'));
  await waitFor(async () => (await metadataOf()) === 'start', 'the first metadata');

  const times: string[] = [];
  let slowest = 0;
  for (const [name, style] of Object.entries(styles).filter(([name]) => !process.env.CHAOS_STYLE || name === process.env.CHAOS_STYLE)) {
    const [intermediate, final] = [ports.pop()!, ports.pop()!];
    // Writer: a cluster's port; reporter: the service's metadata. Intermediate first, then final, each in this style.
    await style(clusterFile, clusterYaml(intermediate));
    await style(serviceFile, service(`${name} intermediate`));
    await style(clusterFile, clusterYaml(final));
    await style(serviceFile, service(name));
    const writtenAt = performance.now();
    await waitFor(async () => (await stack.haproxyConfig()).includes(`bind 127.0.0.1:${final}\n`) && !(await stack.haproxyConfig()).includes(`:${intermediate}\n`), `${name}: the writer to use port ${final}`, 15_000);
    await waitFor(async () => (await metadataOf()) === name, `${name}: the registration to carry the final metadata`, 15_000).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}; it carries "${await metadataOf()}"\n${reporter.process.tail(30)}`);
    });
    const took = performance.now() - writtenAt;
    slowest = Math.max(slowest, took);
    times.push(`${name} ${Math.round(took)} ms`);
    // Still the final content a moment later (no late scan of an intermediate state).
    await sleep(300);
    assert.ok((await stack.haproxyConfig()).includes(`bind 127.0.0.1:${final}\n`), `${name}: still the final port`);
    assert.equal(await metadataOf(), name, `${name}: still the final metadata`);
  }
  const report = await load.stop();
  assert.ok(stack.writer.alive && reporter.process.alive);
  recordResult({ scenario: '9 config edits in 7 styles', requests: report.sent, failed: report.failed, lost: await stack.lost(), recoveryMs: slowest, note: `slowest style; ${times.join(', ')}` }, (m) => t.diagnostic(m));
  assert.equal(report.failed, 0, `the served cluster noticed nothing: ${report.errors.join('; ')}`);
  assert.equal(await stack.lost(), 0);
});
