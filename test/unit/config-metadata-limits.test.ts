import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFile } from '../../src/config/parse.js';
import { formatProblem, type ServiceItem } from '../../src/config/model.js';
import { decodeNode, encodeNode } from '../../src/discovery/codec.js';
import { registerBuiltins } from '../../src/daemon/builtins.js';
import { createRegistries } from '../../src/plugins/registry.js';

/** A service whose metadata every writer would reject is refused at config time, naming file and setting. */

const registries = createRegistries();
registerBuiltins(registries);
const file = '/etc/lighthouse/services/web.yaml';
const service = (metadata: string) => parseConfigFile('service', file, `discovery: zk\nport: 80\nmetadata: ${metadata}\nchecks:\n  interval: 1\n  tcp:\n    rise: 1\n    fall: 1\n`, 'web', registries);
const nested = (depth: number): string => `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`;

test('metadata nested deeper than readers accept is refused', () => {
  const result = service(`{x: ${nested(40)}}`);
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.error.map(formatProblem).join('\n'), /^\/etc\/lighthouse\/services\/web\.yaml: metadata \(line 3\): is nested deeper than 32 levels/);
});

test('metadata too large for a node is refused', () => {
  const result = service(`{blob: "${'x'.repeat(70_000)}"}`);
  assert.equal(result.ok, false);
  assert.match(result.ok ? '' : result.error.map(formatProblem).join('\n'), /metadata \(line 3\): is \d+ bytes encoded; a node may be at most 65536 bytes/);
});

test('metadata at the limits is accepted, and readers accept the node it makes', () => {
  for (const metadata of [`{x: ${nested(30)}}`, `{blob: "${'x'.repeat(60_000)}"}`]) {
    const result = service(metadata);
    assert.ok(result.ok, result.ok ? '' : result.error.map(formatProblem).join('\n'));
    const item = result.value as ServiceItem;
    const host = `${'h'.repeat(60)}.${'e'.repeat(60)}.${'x'.repeat(60)}.${'a'.repeat(60)}`;
    const node = { host, ip: '10.0.0.1', port: 65535, metadata: item.metadata, peer: { name: host, ip: '10.0.0.1', port: 65535 } };
    assert.ok(decodeNode(encodeNode(node)).ok);
  }
});
