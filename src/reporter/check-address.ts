import type { ServiceItem } from '../config/model.js';
import type { Logger } from '../lib/logger.js';
import type { AdvertisedAddress } from './local-identity.js';

/**
 * The address a service's checks connect to: its `host:` when the file sets
 * one, else the address the reporter registers for it. Checking 127.0.0.1
 * (the original's default) while registering the machine's address let a
 * service listening on 127.0.0.1 only pass its checks and be registered,
 * unreachable for every consumer; checking the registered address fails it
 * instead, before a consumer sees it.
 */
export function checkHost(item: Pick<ServiceItem, 'host'>, address: Pick<AdvertisedAddress, 'ip'>): string {
  return item.host ?? address.ip;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/**
 * Why checks that pass may not mean consumers can connect: the file sets a
 * loopback `host:` while another address is registered. Undefined when the
 * checks reach what is registered (or the registered address is loopback too,
 * as on a one-machine setup).
 */
export function checkAddressMismatch(item: Pick<ServiceItem, 'host' | 'file'>, address: Pick<AdvertisedAddress, 'ip'>): string | undefined {
  const checked = checkHost(item, address);
  if (checked === address.ip || !LOOPBACK.test(checked) || LOOPBACK.test(address.ip)) return undefined;
  return `${item.file}: host: checks connect to ${checked} but the reporter registers ${address.ip}: a service listening on ${checked} only passes its checks and is registered, and consumers cannot connect to it; remove "host:" to check the registered address`;
}

/** Logs LH_CHECK_ADDRESS once per service and message (a config reload repeats the same service). */
export class CheckAddressWarnings {
  private readonly warned = new Map<string, string>();

  constructor(private readonly logger: Logger) {}

  note(item: Pick<ServiceItem, 'name' | 'host' | 'file'>, address: Pick<AdvertisedAddress, 'ip'>): void {
    const warning = checkAddressMismatch(item, address);
    if (!warning) {
      this.warned.delete(item.name);
      return;
    }
    if (this.warned.get(item.name) !== warning) this.logger.warn({ code: 'LH_CHECK_ADDRESS', service: item.name, file: item.file, setting: 'host' }, warning);
    this.warned.set(item.name, warning);
  }
}
