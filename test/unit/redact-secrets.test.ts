import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocument } from 'yaml';
import { yamlErrorMessage } from '../../src/config/yaml-error.js';
import { quoteRejectionLines } from '../../src/balancer/haproxy/rejection-lines.js';
import { redactLine, redactSecrets } from '../../src/lib/redact-secrets.js';
import type { RenderedConfig } from '../../src/balancer/haproxy/render.js';

function yamlError(text: string): string {
  const error = parseDocument(text).errors[0];
  assert.ok(error, 'the text is invalid YAML');
  return yamlErrorMessage(error, text);
}

test('a YAML error on a line holding a credential quotes the line without it (mid-line, CRLF, at the end of the file)', () => {
  for (const text of ['auth:\n  password: a"b: c: Secret1\n', 'auth:\r\n  password: "Secret1\r\n', 'token: [Secret1\n']) {
    const message = yamlError(text);
    assert.doesNotMatch(message, /Secret1/, message);
    assert.match(message, /<redacted>/, message);
  }
  // A line without one is quoted as before, with the part from the column.
  assert.match(yamlError('port: [1, 2\n'), /line 1 reads "port: \[1, 2"/);
});

test('a line haproxy -c refuses is quoted without its credentials', () => {
  const rendered = { text: 'global\n    stats auth root:Secret2\n' } as RenderedConfig;
  const [line] = quoteRejectionLines(["[ALERT] parsing [/tmp/x.cfg:2] : 'stats' only supports 'socket' (got 'auth')"], rendered);
  assert.equal(line, `[ALERT] parsing rendered line 2 "stats auth root:<redacted>" : 'stats' only supports 'socket' (got 'auth')`);
});

test('redaction: directive shapes and secret-named settings; other text untouched', () => {
  assert.equal(redactLine('user ops password $6$hash'), 'user ops password <redacted>');
  assert.equal(redactLine('user ops insecure-password hunter2'), 'user ops insecure-password <redacted>');
  assert.equal(redactLine('http-request add-header X-Api-Key k1 if { path /x }'), 'http-request add-header X-Api-Key <redacted>');
  assert.equal(redactLine('server a http://u:p4ss@host:80/'), 'server a http://u:<redacted>@host:80/');
  assert.equal(redactLine('balance roundrobin'), 'balance roundrobin');
  assert.deepEqual(redactSecrets({ auth: 'admin:x', headers: { Cookie: 'c', Accept: 'a/b' }, db_password: 'p', nested: [{ api_key: 'k', secret_access_key: 's', key_file: '/etc/k.pem' }] }), {
    auth: 'admin:<redacted>',
    headers: { Cookie: '<redacted>', Accept: 'a/b' },
    db_password: '<redacted>',
    nested: [{ api_key: '<redacted>', secret_access_key: '<redacted>', key_file: '/etc/k.pem' }],
  });
});
