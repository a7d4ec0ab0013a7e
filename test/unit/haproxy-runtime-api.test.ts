import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { adminSocket, CliSocket, parseInfo, parseServersState, parseShowProc, parseStatCsv } from '../../src/balancer/haproxy/runtime-api.js';
import { tempDir } from '../support/temp-dir.js';

test('parseShowProc reads master counters, workers and old workers', () => {
  const text = [
    '#<PID>          <type>          <reloads>       <uptime>        <version>',
    '7904            master          4 [failed: 1]   0d00h00m35s     2.6.12-1+deb12u4',
    '# workers',
    '8853            worker          1               0d00h00m04s     2.6.12-1+deb12u4',
    '# old workers',
    '8130            worker          3               0d00h00m43s     2.6.12-1+deb12u4',
    '# programs',
    '',
  ].join('\n');
  assert.deepEqual(parseShowProc(text), {
    master: { pid: 7904, reloads: 4, failed: 1 },
    workers: [{ pid: 8853, reloads: 1 }],
    oldWorkers: [{ pid: 8130, reloads: 3 }],
  });
  assert.equal(parseShowProc('Unknown command'), undefined);
});

test('parseServersState indexes columns by header name', () => {
  const text = '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port\n3 web 1 a.example.com:80 10.0.0.1 2 1 80\n';
  assert.deepEqual(parseServersState(text), [
    { be_id: '3', be_name: 'web', srv_id: '1', srv_name: 'a.example.com:80', srv_addr: '10.0.0.1', srv_op_state: '2', srv_admin_state: '1', srv_port: '80' },
  ]);
});

test('parseStatCsv and parseInfo', () => {
  const rows = parseStatCsv('# pxname,svname,qcur,scur,status,\nweb,FRONTEND,,3,OPEN,\nweb,a.example.com:80,0,1,UP,\n');
  assert.equal(rows[1]?.svname, 'a.example.com:80');
  assert.equal(rows[1]?.status, 'UP');
  assert.equal(parseInfo('Name: HAProxy\nPid: 8853\nUptime: 0d 0h01m38s\n').Pid, '8853');
});

/** A fake admin socket speaking the prompt protocol: answers `echo X` with X, never answers `hang`. */
async function fakeCli(path: string): Promise<{ server: Server; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line === 'prompt') socket.write('\n> ');
        else if (line.startsWith('echo ')) {
          // Split the answer in two writes: framing must wait for the prompt.
          socket.write(`${line.slice(5)}\n`);
          setTimeout(() => socket.write('\n> '), 5);
        } else if (line === 'hang') {
          // no answer
        } else socket.write('Unknown command.\n\n> ');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, connections: () => connections };
}

test('CliSocket: one persistent connection, serialized commands, deadline then reconnect', async () => {
  const dir = await tempDir();
  const path = join(dir.path, 'admin.sock');
  const { server, connections } = await fakeCli(path);
  const cli = adminSocket(path, { timeoutMs: 200 });
  try {
    const answers = await Promise.all([cli.command('echo one'), cli.command('echo two'), cli.command('echo three')]);
    assert.deepEqual(answers, ['one', 'two', 'three']);
    assert.equal(connections(), 1);
    await assert.rejects(cli.command('hang', 100), /got no answer within 100 ms/);
    assert.equal(await cli.command('echo after'), 'after');
    assert.equal(connections(), 2);
    await assert.rejects(cli.command('enable server a\nshutdown'), /refusing/);
  } finally {
    cli.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await dir.remove();
  }
});

test('CliSocket: an absent socket is a clear error, not a hang', async () => {
  const dir = await tempDir();
  const cli = adminSocket(join(dir.path, 'missing.sock'), { timeoutMs: 500 });
  try {
    await assert.rejects(cli.command('show info'), /cannot reach the HAProxy socket .*missing\.sock/);
  } finally {
    cli.close();
    await dir.remove();
  }
});

/** A prompt pattern that counts the characters it is asked to search: the framing's work. */
class CountingPrompt extends RegExp {
  searched = 0;
  override test(text: string): boolean {
    this.searched += text.length;
    return super.test(text);
  }
}

test('CliSocket: a large answer in many chunks is framed by searching its tail, not the whole answer on every chunk', async () => {
  const dir = await tempDir();
  const path = join(dir.path, 'admin.sock');
  // `show stat` of 10,000 servers: ~2 MB, arriving in 64 KB reads.
  const row = 'c1,c1n1.example.com:8080,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,1234,0,,1,1003,4,,0,,2,0,,0,,,,0,0,0,0,0,0,0,0,';
  const big = Array.from({ length: 20_000 }, (_, index) => `${row}${index}`).join('\n');
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        if (line === 'prompt') socket.write('\n> ');
        else if (line === 'show stat') {
          for (let at = 0; at < big.length; at += 16 * 1024) socket.write(big.slice(at, at + 16 * 1024));
          // the prompt split over two writes: framing must still find it
          socket.write('\n\n');
          setTimeout(() => socket.write('> '), 5);
        } else if (line === 'empty') socket.write('\n> ');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const prompt = new CountingPrompt('(^|\\n)> $');
  const cli = new CliSocket(path, prompt, { timeoutMs: 5_000 });
  try {
    assert.equal(await cli.command('show stat'), big);
    assert.equal(await cli.command('empty'), '');
    // Before: every chunk searched everything received so far (~30 MB for this answer).
    assert.ok(prompt.searched < 2 * big.length, `searched ${prompt.searched} characters for a ${big.length}-character answer`);
  } finally {
    cli.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await dir.remove();
  }
});
