import { createServer, type Server } from 'node:http';

/** An HTTP service whose `/health` answers as the test says; `/` answers `port-<port>`, so HAProxy's choice is visible. */
export interface ToggleService {
  port: number;
  healthy: boolean;
  /** accept health requests but never answer them */
  hang: boolean;
  server: Server;
  close(): Promise<void>;
}

export async function startToggleService(port: number): Promise<ToggleService> {
  const service = { port, healthy: true, hang: false } as ToggleService;
  service.server = createServer((req, res) => {
    res.setHeader('Connection', 'close');
    if (req.url === '/health') {
      if (service.hang) return;
      res.statusCode = service.healthy ? 200 : 500;
      res.end(service.healthy ? 'ok' : 'sick');
      return;
    }
    res.end(`port-${port}`);
  });
  service.close = () => new Promise((resolve) => {
    service.server.closeAllConnections();
    service.server.close(() => resolve());
  });
  await new Promise<void>((resolve) => service.server.listen(port, '127.0.0.1', resolve));
  return service;
}
