/**
 * The two messages of grpc.health.v1, encoded by hand:
 *
 *   message HealthCheckRequest { string service = 1; }
 *   message HealthCheckResponse { ServingStatus status = 1; }
 *
 * A proto loader (protobufjs) for one string field and one enum field would
 * load a schema compiler into every reporter; the protobuf wire format of
 * these two is a few bytes and does not change (the health protocol is
 * frozen at v1).
 */

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const SERVING_STATUS_NAMES: Readonly<Record<number, string>> = { 0: 'UNKNOWN', 1: 'SERVING', 2: 'NOT_SERVING', 3: 'SERVICE_UNKNOWN' };
export const SERVING = 1;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

/** Field 1 (length-delimited); an empty service name is the empty message, as proto3 encodes it. */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const name = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]);
}

/** For a test server: a HealthCheckRequest's service name. */
export function decodeHealthCheckRequest(bytes: Buffer): string {
  let service = '';
  forEachField(bytes, (field, wireType, value) => {
    if (field === 1 && wireType === 2 && Buffer.isBuffer(value)) service = value.toString('utf8');
  });
  return service;
}

/** For a test server: a HealthCheckResponse. */
export function encodeHealthCheckResponse(status: number): Buffer {
  return status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...varint(status)]);
}

/** The status field (0, UNKNOWN, when absent, as proto3 decodes it); unknown fields are skipped. Throws on malformed bytes. */
export function decodeHealthCheckResponse(bytes: Buffer): number {
  let status = 0;
  forEachField(bytes, (field, wireType, value) => {
    if (field === 1 && wireType === 0 && typeof value === 'number') status = value;
  });
  return status;
}

function forEachField(bytes: Buffer, visit: (field: number, wireType: number, value: number | Buffer) => void): void {
  let offset = 0;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (let index = 0; index < 10; index += 1) {
      if (offset >= bytes.length) throw new Error('truncated protobuf varint');
      const byte = bytes[offset]!;
      offset += 1;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new Error('protobuf varint longer than 10 bytes');
  };
  while (offset < bytes.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (wireType === 0) visit(field, wireType, readVarint());
    else if (wireType === 2) {
      const length = readVarint();
      if (offset + length > bytes.length) throw new Error('truncated protobuf field');
      visit(field, wireType, bytes.subarray(offset, offset + length));
      offset += length;
    } else if (wireType === 1 || wireType === 5) {
      offset += wireType === 1 ? 8 : 4;
      if (offset > bytes.length) throw new Error('truncated protobuf field');
    } else throw new Error(`unsupported protobuf wire type ${wireType}`);
  }
}
