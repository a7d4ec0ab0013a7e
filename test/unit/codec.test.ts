import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeNode, encodeNode, MAX_METADATA_DEPTH, MAX_NODE_BYTES } from '../../src/discovery/codec.js';
import type { ClusterNode } from '../../src/discovery/node.js';

const sample: ClusterNode = {
  host: 'web1.example.com',
  ip: '10.0.0.5',
  port: 8000,
  metadata: { version: '1.2' },
  peer: { name: 'web1.example.com', ip: '10.0.0.5', port: 1024 },
};

// Written by hand from Python's json.dumps(..., sort_keys=True) rules (SPEC §3).
const SAMPLE_BYTES = String.raw`{"host": "web1.example.com", "ip": "10.0.0.5", "metadata": "{\"version\": \"1.2\"}", "peer": "{\"ip\": \"10.0.0.5\", \"name\": \"web1.example.com\", \"port\": 1024}", "port": 8000}`;

test('encodes the SPEC sample byte for byte', () => {
  assert.equal(encodeNode(sample), SAMPLE_BYTES);
});

test('escapes non-ASCII and sorts keys by code point like Python', () => {
  const node: ClusterNode = {
    host: 'x.example.com',
    ip: '10.0.0.6',
    port: 80,
    metadata: { name: 'café ☕ 😀', '\uffff': 1, '😀': 2, B: [1, true, null], a: { z: 1, y: '\n\t"/' } },
    peer: null,
  };
  // UTF-16 order would put "😀" (0xD83D...) before "\uffff"; Python sorts code points.
  const expected = String.raw`{"host": "x.example.com", "ip": "10.0.0.6", "metadata": "{\"B\": [1, true, null], \"a\": {\"y\": \"\\n\\t\\\"/\", \"z\": 1}, \"name\": \"caf\\u00e9 \\u2615 \\ud83d\\ude00\", \"\\uffff\": 1, \"\\ud83d\\ude00\": 2}", "peer": null, "port": 80}`;
  assert.equal(encodeNode(node), expected);
  assert.match(encodeNode(node), /^[\x20-\x7e]*$/);
});

test('escapes DEL and control characters like Python', () => {
  const node: ClusterNode = { ...sample, metadata: { k: '\u007f\u0001\b' }, peer: null };
  assert.equal(JSON.parse(encodeNode(node)).metadata, String.raw`{"k": "\u007f\u0001\b"}`);
});

test('decodes nodes written by the original implementation', () => {
  const decoded = decodeNode(Buffer.from(SAMPLE_BYTES));
  assert.deepEqual(decoded, { ok: true, value: sample });

  const noPeer = decodeNode(String.raw`{"host": "a.example.com", "ip": "10.1.1.1", "metadata": "{}", "peer": null, "port": 80}`);
  assert.deepEqual(noPeer, { ok: true, value: { host: 'a.example.com', ip: '10.1.1.1', port: 80, metadata: {}, peer: null } });

  // Older reporters wrote neither peer nor metadata.
  const minimal = decodeNode('{"host": "a.example.com", "ip": "10.1.1.1", "port": 80}');
  assert.deepEqual(minimal, { ok: true, value: { host: 'a.example.com', ip: '10.1.1.1', port: 80, metadata: {}, peer: null } });

  // No host: the original looked it up from the ip; we name it by the ip.
  const noHost = decodeNode('{"ip": "10.1.1.1", "port": 80}');
  assert.ok(noHost.ok);
  assert.equal(noHost.value.host, '10.1.1.1');

  // A peer without a port gets the default peer port.
  const peerNoPort = decodeNode(String.raw`{"host": "a.example.com", "ip": "10.1.1.1", "peer": "{\"ip\": \"10.1.1.1\", \"name\": \"a.example.com\"}", "port": 80}`);
  assert.ok(peerNoPort.ok);
  assert.deepEqual(peerNoPort.value.peer, { ip: '10.1.1.1', name: 'a.example.com', port: 1024 });
});

test('round-trips: decode(encode(node)) is the node, encode(decode(bytes)) is the bytes', () => {
  const decoded = decodeNode(encodeNode(sample));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.value, sample);
  assert.equal(encodeNode(decoded.value), SAMPLE_BYTES);

  const rich: ClusterNode = { ...sample, metadata: { nested: { list: [1, 2.5, 'x', null, false] }, 'ünï': 'cödé' } };
  const back = decodeNode(Buffer.from(encodeNode(rich), 'utf8'));
  assert.ok(back.ok);
  assert.deepEqual(back.value, rich);
});

const base = { host: 'a.example.com', ip: '10.1.1.1', port: 80 };
const hostile: [string, string | Buffer][] = [
  ['newline in host', JSON.stringify({ ...base, host: 'a.example.com\n  server evil 6.6.6.6:80' })],
  ['space in host', JSON.stringify({ ...base, host: 'a b' })],
  ['# in host', JSON.stringify({ ...base, host: 'a#b' })],
  ['empty host', JSON.stringify({ ...base, host: '' })],
  ['host not a string', JSON.stringify({ ...base, host: 5 })],
  ['newline in ip', JSON.stringify({ ...base, ip: '10.1.1.1\nbind :1' })],
  ['space in ip', JSON.stringify({ ...base, ip: '10.1.1.1 ' })],
  ['# in ip', JSON.stringify({ ...base, ip: '10.1.1.1#' })],
  ['not an IPv4 ip', JSON.stringify({ ...base, ip: '::1' })],
  ['missing ip', JSON.stringify({ host: 'a.example.com', port: 80 })],
  ['port 0', JSON.stringify({ ...base, port: 0 })],
  ['port 65536', JSON.stringify({ ...base, port: 65536 })],
  ['negative port', JSON.stringify({ ...base, port: -1 })],
  ['fractional port', JSON.stringify({ ...base, port: 80.5 })],
  ['port as a string', JSON.stringify({ ...base, port: '80' })],
  ['missing port', JSON.stringify({ host: 'a.example.com', ip: '10.1.1.1' })],
  ['huge payload', JSON.stringify({ ...base, metadata: JSON.stringify({ pad: 'x'.repeat(MAX_NODE_BYTES) }) })],
  ['non-UTF-8 bytes', Buffer.concat([Buffer.from('{"host": "a.example.com", "ip": "10.1.1.1", "port": 80, "metadata": "{\\"k\\": \\"'), Buffer.from([0xff, 0xfe]), Buffer.from('\\"}"}')])],
  ['deeply nested metadata', JSON.stringify({ ...base, metadata: `${'['.repeat(5000)}${']'.repeat(5000)}` })],
  ['deeply nested metadata object', JSON.stringify({ ...base, metadata: `{"a": ${'{"a": '.repeat(3000)}1${'}'.repeat(3000)}}` })],
  ['deeply nested document', `${'['.repeat(20000)}${']'.repeat(20000)}`],
  ['top-level array', JSON.stringify([base])],
  ['top-level string', JSON.stringify('a.example.com:80')],
  ['metadata array', JSON.stringify({ ...base, metadata: '[1, 2]' })],
  ['metadata not JSON', JSON.stringify({ ...base, metadata: '{oops' })],
  ['peer array', JSON.stringify({ ...base, peer: '[1]' })],
  ['peer name with newline', JSON.stringify({ ...base, peer: JSON.stringify({ ip: '10.1.1.1', name: 'p\nq', port: 1024 }) })],
  ['peer port out of range', JSON.stringify({ ...base, peer: JSON.stringify({ ip: '10.1.1.1', name: 'p', port: 70000 }) })],
  ['not JSON', 'host=a.example.com'],
  ['empty', ''],
];

for (const [what, data] of hostile) {
  test(`rejects hostile node data: ${what}`, () => {
    const result = decodeNode(data);
    assert.equal(result.ok, false, `accepted: ${JSON.stringify(result)}`);
    if (!result.ok) {
      assert.ok(result.error.length > 0);
      assert.ok(result.error.length < 300, 'the reason stays short enough for one log line');
    }
  });
}

test('accepts metadata nested up to the limit, and encodes it', () => {
  let metadata: Record<string, unknown> = { leaf: 1 };
  for (let depth = 1; depth < MAX_METADATA_DEPTH; depth += 1) metadata = { a: metadata };
  const result = decodeNode(JSON.stringify({ ...base, metadata: JSON.stringify(metadata) }));
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(decodeNode(JSON.stringify({ ...base, metadata: JSON.stringify({ a: metadata }) })).ok, false);
  assert.ok(encodeNode(result.value).length > 0);
});
