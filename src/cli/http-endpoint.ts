import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { LighthouseError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export type Route = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

export interface HttpEndpointOptions {
  port: number;
  address: string;
  registry: Registry;
  /** /healthz answers 200 once this is true (initial sync done) */
  ready: () => boolean;
  /**
   * metrics written as exposition text after the registry's own (one metric
   * each, `# HELP`/`# TYPE` included): those with too many series for
   * prom-client's per-series bookkeeping (server-metrics.ts)
   */
  metricTexts?: (() => Promise<string>)[];
  /** extra routes by exact path (the writer's dashboard, the reporter's page) */
  routes?: Record<string, Route>;
  logger: Logger;
}

/** The registry's text, then each extra metric's, separated as prom-client separates its metrics (a blank line). */
export async function metricsText(options: Pick<HttpEndpointOptions, 'registry' | 'metricTexts'>): Promise<string> {
  const [registry, ...extra] = await Promise.all([options.registry.metrics(), ...(options.metricTexts ?? []).map((text) => text())]);
  return [registry, ...extra].join('\n');
}

/** The daemons' small HTTP side: Prometheus `/metrics`, `/healthz`, and any extra pages. */
export async function startHttpEndpoint(options: HttpEndpointOptions): Promise<Server> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const handle = async () => {
      if (path === '/metrics') {
        response.writeHead(200, { 'content-type': options.registry.contentType });
        response.end(await metricsText(options));
      } else if (path === '/healthz') {
        const ready = options.ready();
        response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
        response.end(ready ? 'ok\n' : 'initial sync not done\n');
      } else if (options.routes?.[path]) {
        await options.routes[path](request, response);
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('not found\n');
      }
    };
    handle().catch((error: unknown) => {
      options.logger.warn({ err: error, path }, 'http endpoint request failed');
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'another process listens there' : errorMessage(error);
      reject(new LighthouseError('LH_LISTEN_FAILED', `cannot serve /metrics on ${options.address}:${options.port}: ${why}`, { setting: '--metrics-port' }, { cause: error }));
    });
    server.listen(options.port, options.address, () => resolve());
  });
  server.unref();
  const address = server.address();
  const page = options.routes?.['/'] ? ', /healthz and the status page' : ' and /healthz';
  options.logger.info({ address }, `serving /metrics${page} on http://${options.address}:${typeof address === 'object' && address ? address.port : options.port}`);
  return server;
}
