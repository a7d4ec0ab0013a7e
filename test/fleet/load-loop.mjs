#!/usr/bin/env node
// The application on a fleet host: a bounded load loop through the host's own
// HAProxy (127.0.0.1:PORT inside the host's namespace). Plain JavaScript so it
// starts fast and runs without tsx. It prints JSON lines on stdout:
//   {"type":"fail","at":ms,"started":ms,"error":"..."}  at once, per failed request
//   {"type":"stats","at":ms,"sent":n,"ok":n,"failed":n,"reached":{"app-1":n,...},"maxMs":n}  every 250 ms and at the end
//   (maxMs: the slowest request completed since the previous stats line)
// A request fails on a connection error, a timeout or a status other than 200.
// It stops on SIGTERM, after --max-seconds, after --max-requests, or when its
// parent is gone, so it can never run away.
//
// --once: one request with the given --header NAME:VALUE, print the answer, exit.
import { Agent, request } from 'node:http';

const args = new Map();
for (let index = 2; index < process.argv.length; index += 1) {
  const name = process.argv[index];
  if (!name.startsWith('--')) continue;
  const next = process.argv[index + 1];
  if (next === undefined || next.startsWith('--')) args.set(name.slice(2), 'true');
  else {
    args.set(name.slice(2), next);
    index += 1;
  }
}
const port = Number(args.get('port'));
const concurrency = Number(args.get('concurrency') ?? 2);
const pauseMs = Number(args.get('pause') ?? 50);
const timeoutMs = Number(args.get('timeout') ?? 15_000);
const lifetimeMs = Number(args.get('max-seconds') ?? 900) * 1000;
const maxRequests = Number(args.get('max-requests') ?? 200_000);
if (!Number.isInteger(port) || port < 1) {
  console.error('usage: load-loop.mjs --port N [--concurrency C] [--pause MS] [--timeout MS] [--max-seconds S] [--once --header NAME:VALUE]');
  process.exit(2);
}

function get(agent, headers) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/load', agent, headers: agent ? headers : { Connection: 'close', ...headers }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 80).trim()}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

if (args.has('once')) {
  const header = args.get('header') ?? '';
  const colon = header.indexOf(':');
  const headers = colon > 0 ? { [header.slice(0, colon)]: header.slice(colon + 1) } : {};
  get(false, headers).then(
    (body) => {
      process.stdout.write(`${JSON.stringify({ type: 'once', ok: true, body })}\n`);
      process.exit(0);
    },
    (error) => {
      process.stdout.write(`${JSON.stringify({ type: 'once', ok: false, error: error.message })}\n`);
      process.exit(1);
    },
  );
} else {
  const stats = { sent: 0, ok: 0, failed: 0, reached: {} };
  let maxMs = 0;
  const startedAt = Date.now();
  const parent = process.ppid;
  let running = true;
  const print = (line) => {
    try {
      process.stdout.write(`${JSON.stringify(line)}\n`);
    } catch {
      running = false;
    }
  };
  process.stdout.on('error', () => (running = false));
  const printStats = () => {
    print({ type: 'stats', at: Date.now(), ...stats, maxMs });
    maxMs = 0;
  };
  const ticker = setInterval(() => {
    printStats();
    if (Date.now() - startedAt > lifetimeMs || process.ppid !== parent) running = false;
  }, 250);

  const keepAlive = new Agent({ keepAlive: true, maxSockets: 2 });
  async function loop(agent) {
    while (running && stats.sent < maxRequests) {
      stats.sent += 1;
      const started = Date.now();
      try {
        const body = await get(agent, {});
        const id = body.split(/\s/)[0];
        stats.ok += 1;
        stats.reached[id] = (stats.reached[id] ?? 0) + 1;
      } catch (error) {
        stats.failed += 1;
        print({ type: 'fail', at: Date.now(), started, error: error.message });
      }
      maxMs = Math.max(maxMs, Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
  // Half the loops on fresh connections, half on keep-alive: removals and reloads hit the two differently.
  const loops = Array.from({ length: concurrency }, (_, index) => loop(index % 2 === 0 ? false : keepAlive));
  process.once('SIGTERM', () => (running = false));
  process.once('SIGINT', () => (running = false));
  await Promise.all(loops);
  clearInterval(ticker);
  keepAlive.destroy();
  printStats();
  process.exit(0);
}
