import { lookup as dnsLookup, lookupService as dnsLookupService } from 'node:dns/promises';
import { ADDRCONFIG } from 'node:dns';
import { hostname as osHostname, networkInterfaces as osNetworkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { isIPv4 } from 'node:net';
import { DEFAULT_PEER_PORT, type ClusterNode, type Metadata } from '../discovery/node.js';
import type { Advertise } from '../config/model.js';

/** Who this machine is to the rest of the fleet, resolved once when the reporter starts. */
export interface LocalIdentity {
  /** fully qualified host name */
  fqdn: string;
  /** IPv4 address other machines reach this one on */
  ip: string;
  /**
   * The system host name as gethostname() returns it: the name HAProxy gives
   * its local peer unless told otherwise, so the name this machine's peer
   * must carry in the `peers` sections other writers render.
   */
  hostname?: string;
}

/** The system calls identity resolution uses; tests replace them. */
export interface IdentitySources {
  hostname(): string;
  lookup(host: string): Promise<string[]>;
  reverse(ip: string): Promise<string>;
  interfaces(): NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** a resolver that does not answer must not keep the reporter from starting */
  timeoutMs: number;
}

const systemSources: IdentitySources = {
  hostname: osHostname,
  async lookup(host) {
    const addresses = await dnsLookup(host, { family: 4, all: true, hints: ADDRCONFIG });
    return addresses.map((entry) => entry.address);
  },
  async reverse(ip) {
    return (await dnsLookupService(ip, 0)).hostname;
  },
  interfaces: osNetworkInterfaces,
  timeoutMs: 5_000,
};

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*$/;
const isLoopback = (ip: string): boolean => ip.startsWith('127.');

/**
 * FQDN: the host name if it already has a domain; otherwise the reverse name
 * of one of its addresses, but only a name of the form `<hostname>.<domain>`.
 * Python's `socket.getfqdn()` (the original) takes any dotted name, so on
 * machines whose /etc/hosts maps the host name to 127.0.0.1 next to
 * `localhost` it could publish "localhost" or an unrelated alias.
 *
 * IPv4: the first non-loopback address the FQDN resolves to; else the first
 * non-internal interface address; else 127.0.0.1. Debian maps the host name
 * to 127.0.1.1, and publishing that would send every other machine's traffic
 * to itself, so a loopback answer is only the last resort.
 */
export async function resolveLocalIdentity(overrides: Partial<IdentitySources> = {}): Promise<LocalIdentity> {
  const sources: IdentitySources = { ...systemSources, ...overrides };
  // Not lib/deadline: its timer is unref'd, and at daemon start nothing else
  // may hold the event loop yet, so a hung resolver would let the process exit.
  const attempt = <T>(what: Promise<T>, fallback: T): Promise<T> =>
    new Promise<T>((resolve) => {
      const timer = setTimeout(() => resolve(fallback), sources.timeoutMs);
      what.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        () => {
          clearTimeout(timer);
          resolve(fallback);
        },
      );
    });

  const short = sources.hostname().replace(/\.$/, '');
  const forward = short ? await attempt(sources.lookup(short), []) : [];
  let fqdn = short || 'localhost';
  if (!short.includes('.')) {
    const candidates = [...forward.filter((ip) => !isLoopback(ip)), ...forward.filter(isLoopback)];
    for (const ip of candidates) {
      const name = (await attempt(sources.reverse(ip), '')).replace(/\.$/, '');
      if (name.toLowerCase().startsWith(`${short.toLowerCase()}.`) && HOST_NAME.test(name)) {
        fqdn = name;
        break;
      }
    }
  }

  const addresses = fqdn === short ? forward : await attempt(sources.lookup(fqdn), forward);
  const resolved = addresses.find((ip) => isIPv4(ip) && !isLoopback(ip));
  const ip = resolved ?? firstInterfaceAddress(sources.interfaces()) ?? '127.0.0.1';
  return { fqdn, ip, hostname: sources.hostname() };
}

function firstInterfaceAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string | undefined {
  for (const name of Object.keys(interfaces).sort()) {
    for (const entry of interfaces[name] ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  return undefined;
}

/** What a service's nodes carry: the machine identity with the operator's overrides applied. */
export interface AdvertisedAddress {
  host: string;
  ip: string;
  peerPort: number;
  /** the local HAProxy's peer name: the system host name, or the advertised host when an operator set one */
  peerName: string;
}

/**
 * Later layers win: pass the discovery file's `advertise`, then the service
 * file's, so a service can differ from the machine-wide setting.
 */
export function advertisedAddress(identity: LocalIdentity, ...layers: (Advertise | undefined)[]): AdvertisedAddress {
  // Not the FQDN: HAProxy names its local peer after gethostname(), and drops a
  // peers section without a peer of that name (with only a warning), so a
  // machine whose FQDN differs from its host name would share no stick table.
  const address: AdvertisedAddress = { host: identity.fqdn, ip: identity.ip, peerPort: DEFAULT_PEER_PORT, peerName: identity.hostname || identity.fqdn };
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.host !== undefined) {
      address.host = layer.host;
      address.peerName = layer.host;
    }
    if (layer.ip !== undefined) address.ip = layer.ip;
    if (layer.peer_port !== undefined) address.peerPort = layer.peer_port;
  }
  return address;
}

/**
 * The node registered for one service port. The peer is this machine's
 * HAProxy, named as that HAProxy names itself (see advertisedAddress), so
 * writers build `peers` sections whose local peer name matches.
 */
export function nodeFor(address: AdvertisedAddress, port: number, metadata: Metadata): ClusterNode {
  return {
    host: address.host,
    ip: address.ip,
    port,
    metadata,
    peer: { name: address.peerName, ip: address.ip, port: address.peerPort },
  };
}
