import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP server on 127.0.0.1 that answers every request with its own id (and counts them). */
export interface HttpBackend {
  id: string;
  port: number;
  requests: number;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default: a port the OS picks */
  port?: number;
  /** answer this long after the request arrived, so requests are in flight while membership changes */
  delayMs?: number;
}

export async function startHttpBackend(id: string, options: BackendOptions = {}): Promise<HttpBackend> {
  const { host = '127.0.0.1', port = 0, delayMs = 0 } = options;
  const backend = { id, port: 0, requests: 0 } as HttpBackend;
  const server: Server = createServer((req, res) => {
    backend.requests += 1;
    res.setHeader('Connection', 'close');
    const answer = (): void => void res.end(`${id} ${req.url ?? ''}`);
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  Object.assign(backend, await serve(server, port, host));
  return backend;
}

/** Listens (default: a free port on 127.0.0.1); `close` also ends kept-alive connections. */
export async function serve(server: Server, port = 0, host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startHttpBackends(prefix: string, count: number, options: BackendOptions = {}): Promise<HttpBackend[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => startHttpBackend(`${prefix}${index + 1}`, options)));
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One GET on a fresh connection (no agent, `Connection: close`), bounded by a timeout. */
export function httpGet(port: number, path = '/', headers: Record<string, string> = {}, timeoutMs = 2_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close', ...headers }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port}${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends `count` requests one after the other and returns which backend ids answered (status 200 only). */
export async function backendsReached(port: number, count: number, path = '/'): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let index = 0; index < count; index += 1) {
    const answer = await httpGet(port, path);
    if (answer.status === 200) seen.add(answer.body.split(' ')[0]!);
  }
  return seen;
}
