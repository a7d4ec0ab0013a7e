/**
 * Coded errors. Every error a user can cause names what it is about (a file,
 * a setting, a znode) so an operator can act on the log line alone.
 */
export const ErrorCodes = {
  LH_CONFIG_PARSE: 'A config file is not valid YAML',
  LH_CONFIG_INVALID: 'A config file has a missing or wrongly typed setting',
  LH_CONFIG_DIRECTIVE: 'A user-supplied HAProxy directive is not legal in its section',
  LH_CONFIG_REFERENCE: 'A config item refers to another item that does not exist',
  LH_CONFIG_IGNORED: 'A config file holds a setting of the original Lighthouse that is accepted and ignored (a warning)',
  LH_PLUGIN_UNKNOWN: 'A config file names a plugin that is not registered',
  LH_PLUGIN_LOAD: 'A plugin package could not be loaded or is incompatible',
  LH_NODE_INVALID: 'A discovery node carries malformed or hostile data',
  LH_CLUSTER_EMPTY: 'A cluster lost its last member: the balancer has no server left to send its requests to',
  LH_REMOVAL_HELD: 'Discovery listed too few members of a cluster at once; the writer keeps the removed ones routed',
  LH_ZK_TIMEOUT: 'A ZooKeeper operation did not complete before its deadline',
  LH_ZK_OPERATION: 'A ZooKeeper operation failed',
  LH_ZK_LIBRARY: 'The installed ZooKeeper client library is not the version whose private parts the engine patches: no ZooKeeper discovery starts',
  LH_ETCD_TIMEOUT: 'An etcd operation did not complete before its deadline',
  LH_ETCD_OPERATION: 'An etcd operation failed',
  LH_ETCD_HISTORY_LOST: 'etcd no longer has the history a watch continues from (compacted, or etcd restarted without its data): the cluster is read again',
  LH_HAPROXY_INVALID: 'HAProxy rejected a generated configuration',
  LH_HAPROXY_START: 'HAProxy could not be started or reloaded',
  LH_HAPROXY_RUNTIME: 'An HAProxy runtime API command failed',
  LH_FILE_WRITE: 'A file the daemon keeps (HAProxy config, state, markers) could not be written: disk full, read-only, permissions',
  LH_CHECK_ADDRESS: 'A service file sets a loopback `host:` for its checks while the reporter registers another address: passing checks do not prove consumers can connect',
  LH_DIR_LOCKED: 'Another running process holds the lock (a second writer or reporter on one directory), or the lock file cannot be written',
  LH_HANDOVER_STALLED: 'A service moving to a new discovery session has not registered there yet; the old session keeps its registrations',
  LH_REGISTRATION_CONFLICT: 'Another discovery session keeps taking the same registration; this reporter stopped taking it back',
  LH_ACK_TOO_LARGE: 'A writer\'s acknowledgement record is over the size a record may have (1,000,000 bytes): it writes a small stand-in that says so, which fleet names and drain --wait does not count as acknowledged',
  LH_ACK_TIMEOUT: 'drain/undrain --wait: not every live writer consuming the cluster acknowledged the new member set in time (the writers are named)',
  LH_CHECK_FAILED: 'A health check failed (a warning, once per failure episode): the line names the service, port and check, and what came back',
  LH_CHECK_TIMEOUT: 'A health check did not finish before its timeout (a warning, once per failure episode)',
  LH_REGISTRATION_WRITE: 'A registration could not be written to or removed from discovery in time (the reporter retries with backoff)',
  LH_DEMO_START: '`lighthouse demo` could not start one of its local servers or daemons',
  LH_LISTEN_FAILED: 'A daemon cannot listen on its --metrics-port (another process listens there, or the address is not this host\'s): it exits 1',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorSubject {
  /** config file path */
  file?: string;
  /** dotted setting path inside the file, e.g. `haproxy.port` */
  setting?: string;
  /** znode or key the error is about */
  znode?: string;
}

export class LighthouseError extends Error {
  readonly code: ErrorCode;
  readonly subject: ErrorSubject;

  constructor(code: ErrorCode, message: string, subject: ErrorSubject = {}, options?: { cause?: unknown }) {
    super(formatMessage(message, subject), options);
    this.name = 'LighthouseError';
    this.code = code;
    this.subject = subject;
  }
}

/** `file: setting: message`, the one-line form operators grep for. */
function formatMessage(message: string, subject: ErrorSubject): string {
  const where = [subject.file, subject.znode, subject.setting].filter((part): part is string => Boolean(part));
  return where.length > 0 ? `${where.join(': ')}: ${message}` : message;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
