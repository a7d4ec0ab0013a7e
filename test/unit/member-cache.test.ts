import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadMemberCache, saveMemberCache } from '../../src/writer/member-cache.js';
import type { ClusterNode } from '../../src/discovery/node.js';
import { tempDir } from '../support/temp-dir.js';

const node = (host: string, port: number): ClusterNode => ({ host, ip: '10.0.0.1', port, metadata: { v: 'é' }, peer: { name: host, ip: '10.0.0.1', port: 1024 } });

test('member sets survive a save and load unchanged', async () => {
  const dir = await tempDir();
  try {
    const path = join(dir.path, '.state', 'members.json');
    await saveMemberCache(path, new Map([['web', [node('a.test', 80), node('b.test', 81)]], ['empty', []]]));
    const loaded = await loadMemberCache(path);
    assert.deepEqual(loaded.get('web'), [node('a.test', 80), node('b.test', 81)]);
    assert.deepEqual(loaded.get('empty'), []);
  } finally {
    await dir.remove();
  }
});

test('a missing, corrupt or tampered cache yields nothing it should not', async () => {
  const dir = await tempDir();
  try {
    assert.equal((await loadMemberCache(join(dir.path, 'none.json'))).size, 0);
    const path = join(dir.path, 'cache.json');
    await writeFile(path, '{not json');
    assert.equal((await loadMemberCache(path)).size, 0);
    const hostile = JSON.stringify({ host: 'x.test', ip: '127.0.0.1\\n  server evil 10.0.0.9:80', port: 80 });
    await writeFile(path, JSON.stringify({ version: 1, clusters: { web: [hostile, 42, JSON.stringify({ host: 'ok.test', ip: '127.0.0.1', port: 81 })] } }));
    const loaded = await loadMemberCache(path);
    assert.deepEqual(loaded.get('web')?.map((member) => member.host), ['ok.test']);
  } finally {
    await dir.remove();
  }
});
