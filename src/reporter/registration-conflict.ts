import type { Logger } from '../lib/logger.js';
import type { RegistrationHolder } from '../discovery/types.js';
import { nodeKey } from '../discovery/node.js';
import type { ServiceItem } from '../config/model.js';
import type { AdvertisedAddress } from './local-identity.js';
import { Listeners } from './runner-events.js';
import type { PortRegistration } from './registration-sync.js';
import type { ConflictEvent } from './runner-status.js';

/**
 * Two reporters registering the same `host:port` (one machine running two,
 * or two machines with the same host name) take the node from each other
 * about once a second each, forever. After this many takeovers by another
 * session within the window the runner stops taking it back.
 */
const CONFLICT_LOSSES = 3;
const CONFLICT_WINDOW_MS = 60_000;

export interface RegistrationConflictOptions {
  logger: Logger;
  now: () => number;
  item: () => ServiceItem;
  address: () => AdvertisedAddress;
  /** write the port's registration again, now */
  requestSync: (port: PortRegistration) => void;
  /** the port has nothing of ours to write any more */
  settled: () => void;
}

/**
 * Registration conflicts of one service's ports: when another session keeps
 * taking a registration, the port yields it (the other serves the same
 * host:port, so traffic still arrives) until the other's node is gone or a
 * new session tries again.
 */
export class RegistrationConflicts {
  /** a port started or stopped yielding its registration */
  readonly events: Listeners<ConflictEvent>;
  /** the discovery session (or lease) the runner last heard of, to name it in a conflict */
  sessionId: string | null = null;

  constructor(private readonly options: RegistrationConflictOptions) {
    this.events = new Listeners(options.logger);
  }

  /** Counts a takeover by another session; true once they come too often to be a restart or a handover. */
  lostAgain(port: PortRegistration): boolean {
    const now = performance.now();
    port.losses = [...port.losses.filter((at) => now - at < CONFLICT_WINDOW_MS), now];
    return port.losses.length >= CONFLICT_LOSSES;
  }

  /**
   * Stops taking the node back: the other session keeps it, and the
   * backend's watch tells when it is gone, when this runner registers again.
   * Not unpublished: the node is not ours, removing it would remove the
   * other's registration.
   */
  start(port: PortRegistration, key: string, holder: RegistrationHolder): void {
    const item = this.options.item();
    const address = this.options.address();
    if (port.syncTimer !== undefined) clearTimeout(port.syncTimer);
    port.syncTimer = undefined;
    port.registered = null;
    port.stale = false;
    port.conflict = { holder, session: this.sessionId, since: this.options.now() };
    const ours = `session ${this.sessionId ?? '(unknown)'} (${address.host} ${address.ip})`;
    const theirs = `session ${holder.session}${holder.host ? ` (${holder.host}${holder.ip ? ` ${holder.ip}` : ''})` : ''}`;
    this.options.logger.error(
      { code: 'LH_REGISTRATION_CONFLICT', port: port.port, node: key, session: this.sessionId, holderSession: holder.session, holderHost: holder.host, holderIp: holder.ip },
      `service ${item.name} port ${port.port}: registration ${key} on discovery ${item.discovery} was taken by another session ${port.losses.length} times within ${CONFLICT_WINDOW_MS / 1000} s: ours is ${ours}, the other is ${theirs}. Two reporters register the same host:port (two on one machine, or two machines with the same host name or advertise.host); this one stops taking it back and registers again when the other's node is gone`,
    );
    this.events.emit({ service: item.name, port: port.port, node: key, conflict: true });
    this.options.settled();
  }

  /** The backend says `key` changed hands or went while the port yields it. */
  onLostWhileYielding(port: PortRegistration, key: string, holder?: RegistrationHolder): void {
    if (!port.conflict || nodeKey({ host: this.options.address().host, port: port.port }) !== key) return;
    if (holder) port.conflict.holder = holder;
    else this.end(port, 'the other registration is gone');
  }

  end(port: PortRegistration, why: string): void {
    const node = nodeKey({ host: this.options.address().host, port: port.port });
    port.conflict = null;
    port.losses = [];
    this.options.logger.info({ port: port.port, node }, `service ${this.options.item().name} port ${port.port}: registration conflict over ${node} ended (${why}); registering again if wanted`);
    this.events.emit({ service: this.options.item().name, port: port.port, node, conflict: false });
    this.options.requestSync(port);
  }
}
