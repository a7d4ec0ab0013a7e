/**
 * Splits a ZooKeeper connection's byte stream into whole frames (4-byte
 * big-endian length, then the packet), in time linear in the bytes read.
 *
 * Why this exists: node-zookeeper-client 1.1.3 handles a socket read that
 * holds many responses by handling the first one, then calling itself with
 * `Buffer.concat([rest, empty])`, which copies the whole rest again for every
 * response. The writer's start reads 10,000 znodes pipelined, so each 64 KB
 * read holds ~200 responses and was copied ~200 times: ~6 MB of short-lived
 * Buffers per read, ~80 MB of malloc at the peak of a 10,000-server start,
 * which glibc kept (RSS) long after it was freed. Handing the library one
 * exact frame at a time takes its fast path (no copy, no recursion).
 */
export class FrameSplitter {
  /** bytes of an incomplete frame, kept as the chunks they came in (joined once, when the frame is complete) */
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly onFrame: (frame: Buffer) => void) {}

  /**
   * Feeds one chunk; calls `onFrame` for every frame it completes. `stop()`
   * returning true after a frame (the connection was dropped while handling
   * it) discards the rest, as a closed socket would.
   */
  push(chunk: Buffer, stop: () => boolean = () => false): void {
    let buffer = chunk;
    if (this.buffered > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      const needed = this.neededBytes();
      if (needed === undefined || this.buffered < needed) return;
      buffer = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
    }
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const end = offset + 4 + buffer.readInt32BE(offset);
      if (end > buffer.length) break;
      this.onFrame(buffer.subarray(offset, end));
      offset = end;
      if (stop()) return;
    }
    if (offset < buffer.length) {
      // A copy, so the remainder does not keep the whole read alive until the next one.
      this.chunks = [Buffer.from(buffer.subarray(offset))];
      this.buffered = buffer.length - offset;
    }
  }

  /** Forgets a partial frame (a new connection starts a new stream). */
  reset(): void {
    this.chunks = [];
    this.buffered = 0;
  }

  /** Length of the frame being assembled, once its 4-byte header is in. */
  private neededBytes(): number | undefined {
    if (this.buffered < 4) return undefined;
    const first = this.chunks[0]!;
    const header = first.length >= 4 ? first : Buffer.concat(this.chunks, this.buffered);
    return 4 + header.readInt32BE(0);
  }
}
