import { isIP } from 'node:net';
import { z } from 'zod';
import type { CheckPlugin } from './plugin-types.js';
import type { Check, CheckOutcome, CheckTarget } from './types.js';
import { abortError, describeError, quote } from './line-exchange.js';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, SERVING, SERVING_STATUS_NAMES } from './grpc-health-codec.js';

export const grpcCheckSchema = z.strictObject({
  /** the service name asked about; empty asks about the server as a whole (the protocol's convention) */
  service: z.string().regex(/^[^\r\n]*$/, 'must be one line').default(''),
});

export type GrpcCheckConfig = z.infer<typeof grpcCheckSchema>;

const METHOD = '/grpc.health.v1.Health/Check';

type GrpcModule = typeof import('@grpc/grpc-js');
/** Loaded on the first grpc check run only: most reporters never use it, and it is a large module. */
let grpcModule: Promise<GrpcModule> | undefined;
const loadGrpc = (): Promise<GrpcModule> => (grpcModule ??= import('@grpc/grpc-js'));

/**
 * Calls grpc.health.v1.Health/Check with @grpc/grpc-js (the gRPC project's
 * own Node implementation: HTTP/2 framing, status trailers and deadlines are
 * not ours to write) and passes on SERVING. The two messages are encoded by
 * hand (grpc-health-codec.ts) so no proto loader is needed.
 *
 * Each run makes its own client with a local subchannel pool and closes it,
 * so each run makes a new connection (grpc-js otherwise shares connections
 * between clients to the same address, and a kept connection could pass for
 * a service that no longer accepts new ones). Plaintext (h2c) only.
 */
export const grpcCheck: CheckPlugin<GrpcCheckConfig> = {
  kind: 'grpc',
  schema: grpcCheckSchema,
  create(config: GrpcCheckConfig, target: CheckTarget): Check {
    const address = isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    const where = `grpc ${address}${config.service === '' ? '' : ` service ${quote(config.service, 80)}`}`;
    const request = encodeHealthCheckRequest(config.service);
    return {
      async run(signal: AbortSignal): Promise<CheckOutcome> {
        try {
          const grpc = await loadGrpc();
          const status = await healthCheck(grpc, address, request, signal);
          const name = SERVING_STATUS_NAMES[status] ?? `status ${status}`;
          if (status === SERVING) return { passed: true, detail: `${where}: SERVING` };
          return { passed: false, detail: `${where}: ${name}, expected SERVING` };
        } catch (error) {
          return { passed: false, detail: `${where}: ${describeError(error)}, expected SERVING` };
        }
      },
    };
  },
};

function healthCheck(grpc: GrpcModule, address: string, request: Buffer, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      call.cancel();
      client.close();
      outcome();
    };
    const call = client.makeUnaryRequest(
      METHOD,
      (message: Buffer) => message,
      decodeHealthCheckResponse,
      request,
      new grpc.Metadata(),
      {},
      (error, value) => {
        if (error) settle(() => reject(new Error(`${grpc.status[error.code] ?? `status ${error.code}`}: ${error.details || 'no details'}`)));
        else settle(() => resolve(value ?? 0));
      },
    );
    const onAbort = (): void => settle(() => reject(abortError(signal)));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
