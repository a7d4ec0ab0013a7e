// Preloaded into a writer by bench/writer-memory.ts (node --expose-gc --import this file):
// on SIGUSR2 it writes V8's heap figures before and after a full collection
// to $HEAP_PROBE_FILE, so live data can be told from garbage not yet collected.
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const mb = (bytes) => Math.round((bytes / 1024 ** 2) * 10) / 10;

function figures() {
  const heap = v8.getHeapStatistics();
  const memory = process.memoryUsage();
  return { heapUsedMb: mb(heap.used_heap_size), heapTotalMb: mb(heap.total_heap_size), externalMb: mb(memory.external), arrayBuffersMb: mb(memory.arrayBuffers), rssMb: mb(memory.rss) };
}

process.on('SIGUSR2', () => {
  const before = figures();
  globalThis.gc();
  globalThis.gc();
  writeFileSync(process.env.HEAP_PROBE_FILE, JSON.stringify({ before, after: figures() }));
});
