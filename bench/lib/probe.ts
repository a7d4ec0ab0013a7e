import { Agent, request } from 'node:http';

/**
 * Sequential GETs through HAProxy on one keep-alive connection (reopened
 * when HAProxy closes it, e.g. after a reload): the benchmark's way of
 * seeing where HAProxy routes a request right now.
 */
export class Prober {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly port: number) {}

  /** The answering backend's id, or undefined for a failed request (non-200 or socket error). */
  get(path = '/'): Promise<string | undefined> {
    return new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: this.port, path, agent: this.agent, timeout: 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : undefined));
        res.on('error', () => resolve(undefined));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(undefined));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
