import { LighthouseError } from '../../lib/errors.js';

/** ZooKeeper result codes we act on (values from the ZooKeeper protocol, as node-zookeeper-client reports them). */
export const ZkCode = {
  CONNECTION_LOSS: -4,
  /** the server does not know the request (addWatch on a server older than 3.6) */
  UNIMPLEMENTED: -6,
  OPERATION_TIMEOUT: -7,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  INVALID_ACL: -114,
  AUTH_FAILED: -115,
} as const;

/**
 * A failed ZooKeeper operation: `code` says which kind (timeout or server
 * error), `zkCode` is the server's result code (undefined for our own
 * deadline), and the message names the znode.
 */
export class ZookeeperError extends LighthouseError {
  readonly zkCode: number | undefined;

  constructor(op: string, znode: string, zkCode: number | undefined, detail: string, cause?: unknown) {
    super(zkCode === undefined ? 'LH_ZK_TIMEOUT' : 'LH_ZK_OPERATION', `${op} failed: ${detail}`, { znode }, { cause });
    this.name = 'ZookeeperError';
    this.zkCode = zkCode;
  }
}

export function zkCodeOf(error: unknown): number | undefined {
  return error instanceof ZookeeperError ? error.zkCode : undefined;
}

export const isNoNode = (error: unknown): boolean => zkCodeOf(error) === ZkCode.NO_NODE;
export const isNodeExists = (error: unknown): boolean => zkCodeOf(error) === ZkCode.NODE_EXISTS;
export const isBadVersion = (error: unknown): boolean => zkCodeOf(error) === ZkCode.BAD_VERSION;
export const isUnimplemented = (error: unknown): boolean => zkCodeOf(error) === ZkCode.UNIMPLEMENTED;
