import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFleetTable } from '../../src/cli/fleet-command.js';

const at = '2026-11-29T00:00:00.000Z';

test('nothing could be read: the table says the writers are unknown, not "0 live writers"', () => {
  const text = formatFleetTable({ at, writers: [], clusters: [], problems: ['/etc/lighthouse/discovery/zk.yaml: cannot read the writers\' acknowledgements in /writer-acks within 3000 ms (state connecting)'] });
  assert.doesNotMatch(text, /0 live writers/);
  assert.match(text, /^live writers unknown: no acknowledgement could be read/);
  assert.match(text, /problem: .*zk\.yaml/);
});

test('read, and nobody there: "0 live writers"', () => {
  assert.match(formatFleetTable({ at, writers: [], clusters: [], problems: [] }), /^0 live writers\n/);
});
