import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, retry } from 'cockatiel';
import type * as Etcd3Module from 'etcd3';
import type { Etcd3, IOptions, KVClient, LeaseClient, WatchClient } from 'etcd3';
import { LighthouseError, errorMessage } from '../../lib/errors.js';
import { withDeadline } from '../../lib/deadline.js';
import type { EtcdConfig } from './schema.js';

const require = createRequire(import.meta.url);
let etcd3: typeof Etcd3Module | undefined;

/**
 * The etcd3 library loads gRPC and parses etcd's protocol files when it is
 * imported (~130 ms here): loaded on first use, so daemons and commands that
 * never talk to etcd do not pay for it at every start.
 */
function loadEtcd3(): typeof Etcd3Module {
  etcd3 ??= require('etcd3') as typeof Etcd3Module;
  return etcd3;
}

/**
 * A failed etcd request: LH_ETCD_TIMEOUT when it missed its deadline,
 * LH_ETCD_OPERATION otherwise; the message names the key.
 */
export class EtcdOperationError extends LighthouseError {
  constructor(op: string, key: string, timedOut: boolean, detail: string, cause?: unknown) {
    super(timedOut ? 'LH_ETCD_TIMEOUT' : 'LH_ETCD_OPERATION', `etcd ${op} failed: ${detail}`, { znode: key }, { cause });
    this.name = 'EtcdOperationError';
  }
}

/** The gRPC clients of one etcd discovery instance, plus a deadline on every unary request. */
export class EtcdConnection {
  readonly client: Etcd3;
  readonly kv: KVClient;
  readonly lease: LeaseClient;
  readonly watch: WatchClient;

  constructor(
    config: EtcdConfig,
    file: string,
    readonly operationTimeoutMs: number = config.operation_timeout_ms,
  ) {
    const options = clientOptions(config, file);
    this.client = new (loadEtcd3().Etcd3)(options);
    this.kv = this.client.kv;
    this.lease = this.client.leaseClient;
    this.watch = this.client.watchClient;
  }

  /**
   * Runs one request under our own deadline. The library also puts a gRPC
   * deadline on each attempt, but it retries on other endpoints, so only
   * this bounds the whole call.
   */
  async call<T>(op: string, key: string, run: () => Promise<T>, timeoutMs = this.operationTimeoutMs): Promise<T> {
    const timeout = (): Error => new EtcdOperationError(op, key, true, `no answer within ${timeoutMs} ms`);
    try {
      return await withDeadline(run(), timeoutMs, timeout);
    } catch (error) {
      if (error instanceof EtcdOperationError) throw error;
      throw new EtcdOperationError(op, key, error instanceof loadEtcd3().GRPCDeadlineExceededError, errorMessage(error), error);
    }
  }

  /**
   * Gets a fresh auth token. The library renews an expired token only when a
   * unary request fails with it; a stream opened with it fails instead (a
   * watch is canceled "invalid auth token"), and would keep failing, because
   * an idle writer makes no unary requests. A small read of `key` is such a
   * request.
   */
  async renewAuth(key: string): Promise<void> {
    await this.call('renew auth token', key, () => this.kv.range({ key: Buffer.from(key, 'utf8'), limit: 1, count_only: true })).catch(() => undefined);
  }

  close(): void {
    this.client.close();
  }
}

/** An error (or a watch cancel reason) saying our auth token expired. */
export function isAuthTokenExpired(error: unknown): boolean {
  return (etcd3 !== undefined && error instanceof etcd3.EtcdInvalidAuthTokenError) || /invalid auth token/.test(errorMessage(error));
}

function clientOptions(config: EtcdConfig, file: string): IOptions {
  const timeoutMs = config.operation_timeout_ms;
  const options: IOptions = {
    hosts: config.endpoints,
    dialTimeout: timeoutMs,
    // Streams (watches, keepalives) live for as long as we want them; only unary calls get a deadline.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    grpcOptions: {
      // A hung member (frozen VM, silent partition) keeps the TCP connection open:
      // HTTP/2 pings find it, so watches and keepalives move to another endpoint.
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': Math.min(10_000, Math.max(1_000, timeoutMs)),
      // gRPC's default reconnect backoff grows to 2 minutes: far longer than a lease.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
    },
    faultHandling: {
      // The library's default breaker shuts an endpoint out for 5 s after 3
      // failures: with one endpoint that is 5 s of refusing every request
      // after etcd is back. A second is enough to skip a dead member.
      host: () => circuitBreaker(handleWhen(loadEtcd3().isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
      // Retry a failed request once per other endpoint; our deadline bounds the whole call.
      global: retry(handleWhen(loadEtcd3().isRecoverableError), { maxAttempts: config.endpoints.length - 1 }),
    },
  };
  if (config.auth) {
    const password = 'password' in config.auth ? config.auth.password : readSecret(config.auth.password_file, file, 'auth.password_file').replace(/\r?\n$/, '');
    options.auth = { username: config.auth.user, password };
  }
  if (config.tls) {
    options.credentials = {
      rootCertificate: readSecret(config.tls.ca_file, file, 'tls.ca_file', 'buffer'),
      ...(config.tls.cert_file && config.tls.key_file
        ? { certChain: readSecret(config.tls.cert_file, file, 'tls.cert_file', 'buffer'), privateKey: readSecret(config.tls.key_file, file, 'tls.key_file', 'buffer') }
        : {}),
    };
  }
  return options;
}

function readSecret(path: string, file: string, setting: string): string;
function readSecret(path: string, file: string, setting: string, as: 'buffer'): Buffer;
function readSecret(path: string, file: string, setting: string, as?: 'buffer'): string | Buffer {
  try {
    return as === 'buffer' ? readFileSync(path) : readFileSync(path, 'utf8');
  } catch (error) {
    throw new LighthouseError('LH_CONFIG_INVALID', `cannot read ${path}: ${errorMessage(error)}`, { file, setting });
  }
}
