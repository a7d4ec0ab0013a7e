import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oneLine } from '../../src/lib/one-line.js';
import { formatProblem } from '../../src/config/model.js';

test('oneLine: control characters become JSON-style escapes; everything else stays', () => {
  assert.equal(oneLine('a\nb\r\tc\u0000\u001b[2K\u007f\u0085\u2028\u2029'), 'a\\nb\\r\\tc\\u0000\\u001b[2K\\u007f\\u0085\\u2028\\u2029');
  assert.equal(oneLine('/etc/lighthouse/clusters/wébapp "x" \\ y.yaml'), '/etc/lighthouse/clusters/wébapp "x" \\ y.yaml');
});

test('formatProblem: a problem is one line whatever its file, setting and message hold', () => {
  const line = formatProblem({ file: '/d/clusters/a\nb.yaml', setting: 'hap\nroxy', line: 3, message: 'bad\n/d/clusters/c.yaml: forged' });
  assert.equal(line, '/d/clusters/a\\nb.yaml: hap\\nroxy (line 3): bad\\n/d/clusters/c.yaml: forged');
  assert.ok(!line.includes('\n'));
});
