import { ZookeeperCluster } from '../../test/support/zookeeper.js';
import { sampleProcess } from './procs.js';

/**
 * The fleet scenario's view of a 3-server ensemble: packets received (all
 * servers), CPU of the three JVMs from /proc, request latency from `mntr`.
 * Four-letter words are packets too; callers that count subtract them.
 */
export class EnsembleMeter {
  /** four-letter words this meter sent (each is one packet received by one server) */
  wordsSent = 0;
  /** per server: the last packet count seen, to sum across restarts (a new JVM starts at 0) */
  private lastPackets = new Map<number, number>();
  private packetTotal = 0;

  constructor(readonly zk: ZookeeperCluster) {}

  /** Packets received by the whole ensemble since this meter started (restarts included). */
  async packets(): Promise<number> {
    await Promise.all(
      this.zk.servers.map(async (server) => {
        if (!server.process) return;
        const value = await this.zk.packetsReceived(server.id).catch(() => undefined);
        // Not serving (down, or restarting and answering mntr without the counters): skip it this time.
        if (value === undefined || !Number.isFinite(value)) return;
        this.wordsSent += 1;
        const last = this.lastPackets.get(server.id) ?? 0;
        this.packetTotal += value >= last ? value - last : value;
        this.lastPackets.set(server.id, value);
      }),
    );
    return this.packetTotal - this.wordsSent;
  }

  /** A restarted (or `srst`) server counts from 0 again. */
  forget(): void {
    this.lastPackets.clear();
  }

  /** Resets the servers' latency summaries (`srst`), so the next `latency()` covers only what follows. */
  async resetLatency(): Promise<void> {
    await Promise.all(this.zk.servers.map((server) => this.zk.fourLetter(server.id, 'srst').then(() => (this.wordsSent += 1)).catch(() => undefined)));
    // srst zeroes the packet counters too: the next reading counts from 0.
    this.forget();
  }

  /** Worst server's read and write latency p99 and max (ms) since the last reset (or the server's start). */
  async latency(): Promise<{ readP99: number; updateP99: number; max: number; avg: number }> {
    const all = await Promise.all(this.zk.servers.map((server) => this.zk.mntr(server.id).then((m) => ((this.wordsSent += 1), m)).catch(() => undefined)));
    const worst = (key: string): number => Math.max(0, ...all.map((m) => Number(m?.[key] ?? 0)).filter(Number.isFinite));
    return { readP99: worst('zk_p99_readlatency'), updateP99: worst('zk_p99_updatelatency'), max: worst('zk_max_latency'), avg: worst('zk_avg_latency') };
  }

  /** CPU seconds of the three JVMs, summed. */
  async cpuSeconds(): Promise<number> {
    let total = 0;
    for (const server of this.zk.servers) {
      const pid = server.process?.pid;
      if (pid) total += (await sampleProcess(pid).catch(() => ({ cpuSeconds: 0 }))).cpuSeconds;
    }
    return total;
  }

  /**
   * Samples the ensemble's packet rate every `everyMs` until stopped:
   * the peak (packets/s over one interval) and the timeline.
   */
  rateSampler(everyMs = 250): { stop(): Promise<{ peakPerSecond: number; timeline: number[] }> } {
    const timeline: number[] = [];
    let running = true;
    const loop = (async () => {
      let last = await this.packets().catch(() => undefined);
      let lastAt = performance.now();
      while (running) {
        await new Promise((resolve) => setTimeout(resolve, everyMs));
        const value = await this.packets().catch(() => undefined);
        const at = performance.now();
        if (value !== undefined && last !== undefined) timeline.push(Math.round(((value - last) / (at - lastAt)) * 1000));
        if (value !== undefined) {
          last = value;
          lastAt = at;
        }
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return { peakPerSecond: Math.max(0, ...timeline), timeline };
      },
    };
  }
}
