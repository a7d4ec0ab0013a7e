import type { Logger } from '../../lib/logger.js';
import type { RenderedConfig } from './render.js';
import type { HaproxyClusterConfig } from './schema.js';
import type { HaproxyCounters } from './runtime-channel.js';
import type { ZoneRouting } from './traffic.js';

/**
 * Says when a zone-aware cluster starts or stops spilling over to other
 * zones (once per change, not per sync) and counts the spillovers: the
 * render decides, this only tells the operator.
 */
export class ZoneTransitions {
  private spilled = new Map<string, boolean>();

  constructor(
    private readonly logger: Logger,
    private readonly counters: HaproxyCounters,
  ) {}

  note(rendered: RenderedConfig, settings: (cluster: string) => HaproxyClusterConfig['zone_aware']): void {
    const next = new Map<string, boolean>();
    for (const [name, backend] of rendered.backends) {
      const zone = backend.zone;
      if (!zone) continue;
      next.set(name, zone.spilled);
      const before = this.spilled.get(name);
      if (before === zone.spilled) continue;
      if (zone.spilled) {
        if (before === false) this.counters.zoneSpillovers += 1;
        this.logger.warn({ cluster: name, ...fields(zone) }, `cluster "${name}": ${describe(zone)} (${thresholds(settings(name))}): every member serves, other zones included`);
      } else {
        this.logger.info({ cluster: name, ...fields(zone) }, `cluster "${name}": ${describe(zone)}: other zones' members stand by as backup servers`);
      }
    }
    this.spilled = next;
  }
}

function fields(zone: ZoneRouting): Record<string, unknown> {
  return { zone: zone.zone, sameZone: zone.sameZone, members: zone.members, spilled: zone.spilled };
}

function describe(zone: ZoneRouting): string {
  return `${zone.sameZone} of ${zone.members} members in zone "${zone.zone}"`;
}

function thresholds(settings: HaproxyClusterConfig['zone_aware']): string {
  return settings ? `min_members ${settings.min_members}, min_fraction ${settings.min_fraction}` : 'zone_aware';
}
