import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { redisCommand } from './local-servers.js';

// Errors here stay plain: they reach the user only through the demo command,
// which prints them under LH_DEMO_START (src/cli/demo-command.ts).

type Handler = (request: IncomingMessage) => Promise<{ status: number; body: Record<string, unknown> }>;

/**
 * One instance of a sample service: an HTTP server on 127.0.0.1 that can be
 * stopped abruptly (the demo's crash) and started again on the same port.
 * `/health` answers 200 for the reporter's check; everything else goes to the handler.
 */
export class SampleInstance {
  private server: Server | undefined;
  /** requests answered (health checks not counted) */
  requests = 0;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly handler: Handler,
  ) {}

  get running(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.answer(req, res));
    server.keepAliveTimeout = 1_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Like a crash: open connections are cut, the port stops answering. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status = 200;
    let body: Record<string, unknown> = { instance: this.name };
    if (req.url !== '/health') {
      this.requests += 1;
      try {
        ({ status, body } = await this.handler(req));
      } catch (error) {
        status = 502;
        body = { instance: this.name, error: (error as Error).message };
      }
    }
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
    res.end(`${JSON.stringify({ ...body, instance: this.name })}\n`);
  }
}

/** A webapp instance: counts each visit with INCR in the cache cluster, reached through HAProxy's cache port. */
export function webappInstance(name: string, port: number, cachePort: number): SampleInstance {
  return new SampleInstance(name, port, async () => {
    const visits = await redisCommand(cachePort, ['INCR', 'visits']).catch(() => null);
    return { status: 200, body: { visits } };
  });
}

export function widgetsInstance(name: string, port: number): SampleInstance {
  return new SampleInstance(name, port, async (req) => ({ status: 200, body: { widgets: ['cog', 'gear'], path: req.url ?? '' } }));
}

/** A sprockets instance: asks the partner service through HAProxy's `partner` proxy before answering. */
export function sprocketsInstance(name: string, port: number, partnerProxyPort: number): SampleInstance {
  return new SampleInstance(name, port, async () => {
    const partner = await httpGetText(partnerProxyPort, '/quote');
    return { status: 200, body: { sprockets: 3, partner: partner.trim() } };
  });
}

/** The fixed "partner" upstream outside the fleet: not discovered, reached through a `proxies:` entry. */
export function partnerService(port: number): SampleInstance {
  return new SampleInstance('partner', port, async () => ({ status: 200, body: { quote: 'partner says hi' } }));
}

/** GET on a fresh connection to 127.0.0.1, body as text; rejects on a non-2xx status. */
export function httpGetText(port: number, path: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode ?? '?'}: ${text.trim()}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
