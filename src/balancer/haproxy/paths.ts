import { basename, dirname, join } from 'node:path';
import type { HaproxyConfig } from './schema.js';

/** Files Lighthouse keeps beside the ones the balancer file names. */
export interface HaproxyPaths {
  config: string;
  /** candidate config, checked with `haproxy -c` and then renamed over `config` */
  candidate: string;
  adminSocket: string;
  masterSocket: string;
  pid: string;
  /** `show servers state` dump loaded by the next worker (server-state-file) */
  serverState: string;
  /** HAProxy's own stderr (startup and reload messages), so failures can be reported with its words */
  stderrLog: string;
  /** hash of the config the running HAProxy loaded, so a restarted writer knows whether it must reload */
  loaded: string;
  /** present while the writer cannot get HAProxy running: since when, and the last error (for `lighthouse status`) */
  down: string;
}

export function haproxyPaths(config: Pick<HaproxyConfig, 'config_file' | 'socket_file' | 'pid_file' | 'master_socket'>): HaproxyPaths {
  return {
    config: config.config_file,
    candidate: `${config.config_file}.candidate`,
    adminSocket: config.socket_file,
    masterSocket: config.master_socket ?? join(dirname(config.socket_file), `${basename(config.socket_file).replace(/\.sock$/, '')}-master.sock`),
    pid: config.pid_file,
    serverState: `${config.config_file}.state`,
    stderrLog: `${config.config_file}.log`,
    loaded: `${config.config_file}.loaded`,
    down: `${config.config_file}.down`,
  };
}
