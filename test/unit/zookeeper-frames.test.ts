import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameSplitter } from '../../src/discovery/zookeeper/frames.js';

function frame(body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const header = Buffer.alloc(4);
  header.writeInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

const bodies = ['a', '', 'hello world', 'x'.repeat(300), 'last one'];
const stream = Buffer.concat(bodies.map(frame));

function collect(): { splitter: FrameSplitter; frames: string[] } {
  const frames: string[] = [];
  const splitter = new FrameSplitter((bytes) => {
    assert.equal(bytes.readInt32BE(0), bytes.length - 4, 'a frame is handed over whole, header included');
    frames.push(bytes.subarray(4).toString('utf8'));
  });
  return { splitter, frames };
}

test('many frames in one read are handed over one by one, in order', () => {
  const { splitter, frames } = collect();
  splitter.push(stream);
  assert.deepEqual(frames, bodies);
});

test('every cut of the stream into two reads gives the same frames', () => {
  for (let cut = 0; cut <= stream.length; cut += 1) {
    const { splitter, frames } = collect();
    splitter.push(stream.subarray(0, cut));
    splitter.push(stream.subarray(cut));
    assert.deepEqual(frames, bodies, `cut at ${cut}`);
  }
});

test('a stream fed one byte at a time gives the same frames', () => {
  const { splitter, frames } = collect();
  for (let index = 0; index < stream.length; index += 1) splitter.push(stream.subarray(index, index + 1));
  assert.deepEqual(frames, bodies);
});

test('stop() after a frame discards the rest of that read', () => {
  const { splitter, frames } = collect();
  splitter.push(stream, () => frames.length === 2);
  assert.deepEqual(frames, bodies.slice(0, 2));
});

test('reset() forgets a partial frame', () => {
  const { splitter, frames } = collect();
  splitter.push(stream.subarray(0, 7)); // frame 'a' (5 bytes) and 2 bytes of the next header
  splitter.reset();
  splitter.push(frame('fresh'));
  assert.deepEqual(frames, ['a', 'fresh']);
});
