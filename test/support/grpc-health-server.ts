import * as grpc from '@grpc/grpc-js';
import { decodeHealthCheckRequest, encodeHealthCheckResponse } from '../../src/checks/grpc-health-codec.js';

/** grpc.health.v1.HealthCheckResponse.ServingStatus values */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

export interface GrpcHealthServer {
  port: number;
  /** service name -> status; a name not here answers NOT_FOUND, as the reference health service does */
  statuses: Map<string, number>;
  /** when set, Check never answers (for timeouts) */
  hang: boolean;
  /** service names asked about, in order */
  asked: string[];
  stop(): Promise<void>;
}

/**
 * A real gRPC server (grpc-js over HTTP/2) with the standard health service,
 * implemented with the same hand-made messages the check uses; `withHealth:
 * false` leaves the service out (the check must fail with UNIMPLEMENTED).
 */
export async function startGrpcHealthServer(options: { port?: number; withHealth?: boolean } = {}): Promise<GrpcHealthServer> {
  const server = new grpc.Server();
  const state: GrpcHealthServer = {
    port: 0,
    statuses: new Map([['', ServingStatus.SERVING]]),
    hang: false,
    asked: [],
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
  if (options.withHealth !== false) {
    const definition: grpc.ServiceDefinition = {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (value: { service: string }) => Buffer.from(value.service),
        // An object, not the bare name: grpc-js takes a falsy request ('' for the whole server) as no request at all.
        requestDeserialize: (bytes: Buffer) => ({ service: decodeHealthCheckRequest(bytes) }),
        responseSerialize: encodeHealthCheckResponse,
        responseDeserialize: (bytes: Buffer) => bytes,
      },
    };
    server.addService(definition, {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, number>, callback: grpc.sendUnaryData<number>) => {
        state.asked.push(call.request.service);
        if (state.hang) return;
        const status = state.statuses.get(call.request.service);
        if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else callback(null, status);
      },
    });
  }
  state.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
  );
  return state;
}
