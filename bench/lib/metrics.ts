import { request } from 'node:http';

/** Sum of every sample of metric `name` on a daemon's /metrics (`--metrics-port`). */
export function metricValue(port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        let total = 0;
        for (const line of body.split('\n')) {
          if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
        resolve(total);
      });
    });
    req.on('timeout', () => req.destroy(new Error('metrics: timeout')));
    req.on('error', reject);
    req.end();
  });
}
