import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { StatSnapshot, parseStats } from '../../src/balancer/haproxy/stat-snapshot.js';
import { parseStatCsv } from '../../src/balancer/haproxy/runtime-api.js';
import { collectGarbage, waitCollected } from '../support/gc.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const STAT = '# pxname,svname,status,scur,stot,\nweb,a:1,UP,2,10,\nweb,b:1,DOWN,0,3,\n';

/** A prompt-mode admin socket that answers `show stat` (slowly, so readers overlap) and counts the commands. */
async function fakeAdminSocket(path: string): Promise<{ server: Server; commands: string[]; connections: number }> {
  const state = { server: undefined as unknown as Server, commands: [] as string[], connections: 0 };
  state.server = createServer((socket: Socket) => {
    state.connections += 1;
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line === 'prompt') socket.write('\n> ');
        else {
          state.commands.push(line);
          setTimeout(() => socket.write(`${line === 'show stat' ? STAT : 'Unknown command.\n'}\n> `), 30);
        }
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => state.server.listen(path, resolve));
  return state;
}

describe('show stat snapshot for status pages', () => {
  let dir: TempDir;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir.remove();
  });

  it('serves any number of concurrent and recent readers with one show stat, on its own connection', async () => {
    const path = join(dir.path, 'admin.sock');
    const fake = await fakeAdminSocket(path);
    try {
      let reads = 0;
      const snapshot = new StatSnapshot({ path, maxAgeMs: 60_000, onRead: () => (reads += 1) });
      const answers = await Promise.all(Array.from({ length: 50 }, () => snapshot.read()));
      assert.equal(fake.commands.filter((command) => command === 'show stat').length, 1);
      assert.equal(reads, 1);
      for (const answer of answers) assert.deepEqual(answer.map((stat) => [stat.proxy, stat.server, stat.status, stat.currentSessions, stat.totalSessions]), [['web', 'a:1', 'UP', 2, 10], ['web', 'b:1', 'DOWN', 0, 3]]);
      await snapshot.read();
      assert.equal(reads, 1, 'a recent snapshot is served as it is');
    } finally {
      fake.server.close();
    }
  });

  it('asks again once the snapshot is older than its max age', async () => {
    const path = join(dir.path, 'admin2.sock');
    const fake = await fakeAdminSocket(path);
    try {
      let reads = 0;
      const snapshot = new StatSnapshot({ path, maxAgeMs: 50, onRead: () => (reads += 1) });
      await snapshot.read();
      await waitFor(async () => {
        await snapshot.read();
        return reads >= 2;
      }, 'a second show stat after max age');
      assert.equal(fake.connections, reads, 'each read uses a connection of its own (it follows a reload to the new worker)');
    } finally {
      fake.server.close();
    }
  });

  // At 10,000 servers one answer is ~17 MB of heap; kept until the next read, the writer's two snapshots held ~34 MB for good.
  it('keeps no answer when it may not serve one (max age 0), and lets go of one once it is older than its max age', async () => {
    const path = join(dir.path, 'admin3.sock');
    const fake = await fakeAdminSocket(path);
    try {
      // Only a WeakRef leaves this function: the answer is the snapshot's to keep or drop.
      const readOnce = async (snapshot: StatSnapshot): Promise<WeakRef<object>> => {
        const answer = await snapshot.read();
        assert.equal(answer.length, 2);
        return new WeakRef(answer);
      };
      const fresh = new StatSnapshot({ path, maxAgeMs: 0 });
      await waitCollected(await readOnce(fresh), 'an answer of a snapshot with max age 0');

      const kept = await readOnce(new StatSnapshot({ path, maxAgeMs: 600_000 }));
      collectGarbage();
      assert.ok(kept.deref(), 'an answer within its max age is kept (it is served to the next reader)');

      await waitCollected(await readOnce(new StatSnapshot({ path, maxAgeMs: 50 })), 'an answer older than its max age');
    } finally {
      fake.server.close();
    }
  });

  it('a failure is also shared: an absent HAProxy is asked at most once per max age', async () => {
    let reads = 0;
    const snapshot = new StatSnapshot({ path: join(dir.path, 'nobody.sock'), maxAgeMs: 60_000, onRead: () => (reads += 1) });
    await assert.rejects(snapshot.read(), /cannot reach the HAProxy socket/);
    await assert.rejects(snapshot.read(), /cannot reach the HAProxy socket/);
    assert.equal(reads, 1);
  });
});

describe('parseStats: the columns status pages use, every column only on demand', () => {
  // Columns in HAProxy 2.6's order (status after stot), a frontend line without servers' columns, a short line.
  const csv = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,addr,\n' +
    'web,FRONTEND,,,3,5,100,40,0,0,0,0,0,,,,,OPEN,,,\n' +
    'web,a:1,0,0,2,4,,10,0,0,,0,,0,0,0,0,MAINT,1,10.0.0.1:1,\n' +
    '\n' +
    'web,b:1,0,0\n';

  it('gives the same fields as parsing every column, and the full row as raw', () => {
    const full = parseStatCsv(csv);
    const stats = parseStats(csv);
    assert.equal(stats.length, full.length);
    stats.forEach((stat, index) => {
      const row = full[index]!;
      assert.deepEqual(
        { proxy: stat.proxy, server: stat.server, status: stat.status, currentSessions: stat.currentSessions, totalSessions: stat.totalSessions },
        { proxy: row.pxname ?? '', server: row.svname ?? '', status: row.status ?? '', currentSessions: Number(row.scur ?? 0), totalSessions: Number(row.stot ?? 0) },
      );
      assert.deepEqual(stat.raw, row);
    });
    assert.equal(stats[1]!.raw.addr, '10.0.0.1:1');
    assert.equal(stats[1]!.currentSessions, 2);
    assert.equal(stats[1]!.status, 'MAINT');
  });

  // 11,000 rows a read at 10,000 servers: each row used to carry three closures, their context and its leading cells (~1.5 KB).
  it('holds only its values per row: the getters are shared, no closure, array or object of its own', () => {
    const stats = parseStats(csv);
    for (const stat of stats) {
      for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(stat))) {
        assert.ok(!descriptor.get && !descriptor.set, `${key} is a getter of this row's own`);
        assert.ok(descriptor.value === undefined || typeof descriptor.value !== 'object' && typeof descriptor.value !== 'function', `${key} holds an object of its own`);
      }
    }
    const getter = (stat: object, key: string): unknown => Object.getOwnPropertyDescriptor(Object.getPrototypeOf(stat) as object, key)?.get;
    assert.ok(getter(stats[0]!, 'raw') && getter(stats[0]!, 'raw') === getter(stats[1]!, 'raw'));
    assert.ok(getter(stats[0]!, 'check') && getter(stats[0]!, 'check') === getter(stats[1]!, 'check'));
  });

  it('reads the header after blank lines, and lines of any length', () => {
    const stats = parseStats(`\n\n${csv}`);
    assert.deepEqual(stats.map((stat) => [stat.proxy, stat.server, stat.status, stat.currentSessions]), [['web', 'FRONTEND', 'OPEN', 3], ['web', 'a:1', 'MAINT', 2], ['web', 'b:1', '', 0]]);
    assert.deepEqual(parseStats('# pxname,svname,status\n,,\nx,y,UP,more,cells,than,the,header\n').map((stat) => [stat.proxy, stat.server, stat.status]), [['', '', ''], ['x', 'y', 'UP']]);
  });

  it('reads nothing from an answer without a header', () => {
    assert.deepEqual(parseStats('Unknown command.\n'), []);
  });
});

describe('show stat: a server\'s health check', () => {
  it('is HAProxy\'s check status and text for a checked server, undefined for one without checks', async () => {
    const { parseStats } = await import('../../src/balancer/haproxy/stat-snapshot.js');
    const text = '# pxname,svname,status,scur,stot,weight,bck,check_status,last_chk,\nweb,a:1,DOWN,0,3,1,0,L4CON,Connection refused,\nweb,b:1,UP,1,9,1,0,* L7OK,HTTP status check returned code <200>,\nweb,c:1,no check,0,2,1,0,,,\n';
    assert.deepEqual(
      parseStats(text).map((stat) => stat.check),
      ['L4CON Connection refused', 'L7OK HTTP status check returned code <200>', undefined],
    );
  });
});
