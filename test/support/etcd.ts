import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { closeSync, openSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Etcd3, type IOptions } from 'etcd3';
import { stopChild } from './processes.js';
import { freePorts } from './ports.js';
import { tempDir, type TempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';
import { etcdDiscovery, EtcdDiscovery } from '../../src/discovery/etcd/plugin.js';
import { silentLogger, type Logger } from '../../src/lib/logger.js';

/**
 * A real single-member etcd (Debian `etcd-server`) for integration tests, on
 * free 127.0.0.1 client and peer ports, with its data in a temp dir. Stopped
 * by PID (`stop()` belongs in an after() hook); an exit hook kills any etcd a
 * crashed test left behind.
 */

const execFileAsync = promisify(execFile);
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
});

/** PEM files for a TLS client port; with `clientCa`, clients must present a certificate signed by it. */
export interface EtcdTls {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

export class EtcdServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: TempDir,
    readonly clientPort: number,
    readonly peerPort: number,
    /** plain HTTP /health and /metrics, also when the client port speaks TLS */
    readonly metricsPort: number,
    readonly tls: EtcdTls | undefined,
    readonly authTokenTtlSeconds?: number,
  ) {}

  static async start(options: { tls?: EtcdTls; authTokenTtlSeconds?: number } = {}): Promise<EtcdServer> {
    const dir = await tempDir('lighthouse-etcd-');
    const [clientPort, peerPort, metricsPort] = await freePorts(3);
    const server = new EtcdServer(dir, clientPort!, peerPort!, metricsPort!, options.tls, options.authTokenTtlSeconds);
    try {
      server.launch();
      await server.waitHealthy();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  get endpoint(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private launch(): void {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const log = openSync(join(this.dir.path, 'etcd.log'), 'a');
    const child = spawn(
      'etcd',
      [
        '--name', 'lh-test',
        '--data-dir', join(this.dir.path, 'data'),
        '--listen-client-urls', this.endpoint,
        '--advertise-client-urls', this.endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `lh-test=${peer}`,
        '--initial-cluster-token', `lh-test-${this.peerPort}`,
        '--initial-cluster-state', 'new',
        '--listen-metrics-urls', `http://127.0.0.1:${this.metricsPort}`,
        ...(this.authTokenTtlSeconds !== undefined ? ['--auth-token-ttl', String(this.authTokenTtlSeconds)] : []),
        ...(this.tls ? ['--cert-file', this.tls.certFile, '--key-file', this.tls.keyFile] : []),
        ...(this.tls?.clientCaFile ? ['--client-cert-auth', '--trusted-ca-file', this.tls.clientCaFile] : []),
        // Leases are extended by the election timeout after a restart; short keeps lease tests quick.
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.child = child;
  }

  /** Waits until `/health` on the metrics port says `"health":"true"`. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        if (!this.child || this.child.exitCode !== null) throw new Error(`etcd exited (see ${join(this.dir.path, 'etcd.log')})`);
        return /"health":\s*"true"/.test(await this.get('/health'));
      },
      'etcd to be healthy',
      timeoutMs,
      50,
    );
  }

  private get(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.metricsPort, path, timeout: 1000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  /** Freezes the process: sockets stay open but nothing is answered (GC pause, hung VM). */
  pause(): void {
    if (this.child?.pid) process.kill(this.child.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.child?.pid) process.kill(this.child.pid, 'SIGCONT');
  }

  /** Stops the server by PID (SIGTERM, then SIGKILL); its data dir stays for `restart()`. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await stopChild(child);
  }

  /** Starts the server again on the same ports and data (keys, revisions and leases survive). */
  async restart(): Promise<void> {
    await this.kill();
    this.launch();
    await this.waitHealthy();
  }

  /**
   * SIGKILL, remove the data dir, start again on the same ports with the
   * same flags: a new etcd whose revisions start again at 1 (the same
   * cluster id, as the flags that derive it are the same).
   */
  async restartWithoutData(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(join(this.dir.path, 'data'), { recursive: true, force: true });
    this.launch();
    await this.waitHealthy();
  }

  /** Stops the server and removes its temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    await this.kill();
    await this.dir.remove();
  }

  /** A plain client for the test's own reads and writes (plain-text servers only). */
  client(options: Partial<IOptions> = {}): Etcd3 {
    return new Etcd3({ hosts: [this.endpoint], dialTimeout: 2000, ...options });
  }
}

/** An etcd discovery built through the plugin, exactly as the daemons build it (schema defaults included). */
export function createEtcdDiscovery(config: Record<string, unknown>, logger: Logger = silentLogger(), name = 'etcd'): EtcdDiscovery {
  const parsed = etcdDiscovery.schema.parse(config);
  const discovery = etcdDiscovery.create(parsed, { logger, name, file: `/etc/lighthouse/discovery/${name}.yaml`, now: Date.now });
  if (!(discovery instanceof EtcdDiscovery)) throw new Error('unexpected discovery type');
  return discovery;
}

/**
 * A throwaway CA with a server certificate for 127.0.0.1 and a client
 * certificate, made with openssl (argument arrays, no shell).
 */
export async function makeCertificates(dir: string): Promise<{ ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string }> {
  const file = (name: string): string => join(dir, name);
  const openssl = (args: string[]): Promise<unknown> => execFileAsync('openssl', args, { cwd: dir });
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=lighthouse-test-ca']);
  for (const [name, usage, subject] of [['server', 'serverAuth', '/CN=127.0.0.1'], ['client', 'clientAuth', '/CN=lighthouse-client']] as const) {
    await writeFile(file(`${name}.ext`), `subjectAltName=IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  }
  return { ca: file('ca.crt'), serverCert: file('server.crt'), serverKey: file('server.key'), clientCert: file('client.crt'), clientKey: file('client.key') };
}
