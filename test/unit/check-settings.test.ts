import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfigFile } from '../../src/config/parse.js';
import { httpCheckSchema } from '../../src/checks/http.js';
import { tcpCheckSchema } from '../../src/checks/tcp.js';
import { grpcCheckSchema } from '../../src/checks/grpc.js';
import { statusSet } from '../../src/checks/status-ranges.js';
import { decodeHealthCheckRequest, decodeHealthCheckResponse, encodeHealthCheckRequest, encodeHealthCheckResponse } from '../../src/checks/grpc-health-codec.js';
import { coreRegistries } from '../support/core-registries.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { selfSignedCertificate } from '../support/certificates.js';

const FILE = '/etc/lighthouse/services/web.yaml';

/** A service file with one check section, parsed the way the daemons and check-config do. */
function service(kind: string, settings: string) {
  const text = `port: 8080\ndiscovery: zk\nchecks:\n  interval: 2\n  ${kind}:\n    rise: 2\n    fall: 2\n${settings
    .split('\n')
    .filter(Boolean)
    .map((line) => `    ${line}`)
    .join('\n')}\n`;
  return parseConfigFile('service', FILE, text, 'web', coreRegistries());
}

function problems(kind: string, settings: string): { setting: string | undefined; message: string }[] {
  const parsed = service(kind, settings);
  if (parsed.ok) return [];
  return parsed.error.map((problem) => ({ setting: problem.setting, message: problem.message }));
}

describe('http check settings', () => {
  it('keeps the original defaults: 2xx, GET, plain http, verification on when https', () => {
    const parsed = httpCheckSchema.parse({ uri: '/health' });
    assert.equal(parsed.expect_status, undefined);
    assert.equal(parsed.insecure, false);
    assert.equal(statusSet(parsed.expect_status).has(204), true);
    assert.equal(statusSet(parsed.expect_status).has(301), false);
    assert.equal(statusSet(parsed.expect_status).text, '2xx');
    // The original's settings alone still parse (test/fixtures/original-lighthouse uses these).
    assert.equal(service('http', 'uri: /health\nmethod: GET\nhttps: true').ok, true);
  });

  it('reads expect_status as one value or a list of statuses, classes and ranges', () => {
    assert.deepEqual(httpCheckSchema.parse({ uri: '/', expect_status: 200 }).expect_status, ['200']);
    const set = statusSet(httpCheckSchema.parse({ uri: '/', expect_status: [200, '2XX', '300-399', ' 404 '] }).expect_status);
    assert.deepEqual([200, 250, 302, 399, 404, 400, 500].map(set.has), [true, true, true, true, true, false, false]);
    assert.equal(set.text, '200 or 2xx or 300-399 or 404');
  });

  it('rejects statuses that cannot be final answers or ranges that run backwards, naming the item', () => {
    for (const bad of ['[100]', '["1xx"]', '["600"]', '["399-300"]', '["abc"]', '[]', '[2.5]']) {
      const found = problems('http', `uri: /\nexpect_status: ${bad}`);
      assert.ok(found.length > 0, `${bad} is refused`);
      assert.match(found[0]!.setting ?? '', /^checks\.http\.expect_status/, bad);
    }
    assert.match(problems('http', 'uri: /\nexpect_status: ["2xx", "399-300"]')[0]?.setting ?? '', /^checks\.http\.expect_status\.1$/);
  });

  it('rejects a body regex that does not compile, and body expectations on HEAD', () => {
    const regex = problems('http', 'uri: /\nexpect_body_regex: "(unclosed"');
    assert.equal(regex[0]?.setting, 'checks.http.expect_body_regex');
    assert.match(regex[0]?.message ?? '', /not a valid regular expression/);
    assert.equal(problems('http', 'uri: /\nmethod: HEAD\nexpect_body: ok')[0]?.setting, 'checks.http.expect_body');
  });

  it('takes ca_file and insecure only with https, and not together', () => {
    assert.equal(problems('http', 'uri: /\ninsecure: true')[0]?.setting, 'checks.http.insecure');
    assert.equal(problems('http', 'uri: /\nca_file: /etc/ssl/ca.pem')[0]?.setting, 'checks.http.ca_file');
    assert.match(problems('http', 'uri: /\nhttps: true\ninsecure: yes')[0]?.message ?? '', /boolean/);
    assert.equal(service('http', 'uri: /\nhttps: true\ninsecure: true').ok, true);
    assert.match(problems('http', 'uri: /\nhttps: true\nca_file: relative/ca.pem')[0]?.message ?? '', /absolute path/);
  });

  describe('ca_file', () => {
    let dir: TempDir;
    before(async () => {
      dir = await tempDir('lighthouse-ca-file-');
    });
    after(async () => {
      await dir.remove();
    });

    it('is refused when missing or not a certificate, naming the setting', async () => {
      const missing = problems('http', `uri: /\nhttps: true\nca_file: ${join(dir.path, 'missing.pem')}`);
      assert.equal(missing[0]?.setting, 'checks.http.ca_file');
      assert.match(missing[0]?.message ?? '', /cannot be used: .*ENOENT/);
      const junk = join(dir.path, 'junk.pem');
      await writeFile(junk, 'not a certificate\n');
      assert.equal(problems('http', `uri: /\nhttps: true\nca_file: ${junk}\ninsecure: false`)[0]?.setting, 'checks.http.ca_file');
      assert.match(problems('http', `uri: /\nhttps: true\nca_file: ${junk}\ninsecure: true`)[0]?.message ?? '', /keep one/);
    });

    it('makes a new check when the CA file is replaced and the service file read again', async (t) => {
      const made = selfSignedCertificate(dir.path, 'one', ['127.0.0.1']);
      const other = selfSignedCertificate(dir.path, 'two', ['127.0.0.1']);
      if (!made.ok || !other.ok) return t.skip('openssl cannot make a certificate');
      const ca = join(dir.path, 'ca.pem');
      await copyFile(made.paths.cert, ca);
      const first = service('http', `uri: /\nhttps: true\nca_file: ${ca}`);
      await copyFile(other.paths.cert, ca);
      const second = service('http', `uri: /\nhttps: true\nca_file: ${ca}`);
      assert.ok(first.ok && second.ok);
      if (!first.ok || !second.ok || first.value.kind !== 'service' || second.value.kind !== 'service') return;
      assert.notEqual(first.value.hash, second.value.hash, 'the service item changes with the CA, so its checks are made anew');
    });
  });
});

describe('tcp check settings', () => {
  it('keeps query + response as the original had them', () => {
    assert.equal(service('tcp', 'query: ruok\nresponse: imok').ok, true);
    assert.equal(problems('tcp', 'response: imok')[0]?.setting, 'checks.tcp.query');
  });

  it('takes expect / expect_regex with or without a query, but not with response', () => {
    assert.equal(service('tcp', 'query: STATS\nexpect: role master').ok, true);
    assert.equal(service('tcp', 'expect_regex: "^220 "').ok, true);
    assert.equal(service('tcp', 'query: STATS\nexpect: a\nexpect_regex: b+').ok, true);
    assert.equal(problems('tcp', 'query: STATS\nresponse: ok\nexpect: ok')[0]?.setting, 'checks.tcp.response');
    assert.equal(problems('tcp', 'expect_regex: "["')[0]?.setting, 'checks.tcp.expect_regex');
    assert.equal(problems('tcp', 'expect: ""')[0]?.setting, 'checks.tcp.expect');
    assert.equal(tcpCheckSchema.safeParse({ expect: 'x', send: 'y' }).success, false);
  });
});

describe('grpc check settings', () => {
  it('defaults to the whole server and takes a service name', () => {
    assert.deepEqual(grpcCheckSchema.parse({}), { service: '' });
    assert.equal(service('grpc', 'service: billing.Ledger').ok, true);
    assert.equal(service('grpc', '').ok, true);
  });

  it('rejects unknown settings and a multi-line service name', () => {
    assert.equal(problems('grpc', 'tls: true')[0]?.setting, 'checks.grpc.tls');
    assert.equal(grpcCheckSchema.safeParse({ service: 'a\nb' }).success, false);
  });

  it('encodes the health messages as protobuf does', () => {
    assert.deepEqual(encodeHealthCheckRequest(''), Buffer.alloc(0));
    assert.deepEqual(encodeHealthCheckRequest('ab'), Buffer.from([0x0a, 2, 0x61, 0x62]));
    assert.equal(decodeHealthCheckRequest(encodeHealthCheckRequest('x'.repeat(300))), 'x'.repeat(300));
    assert.equal(decodeHealthCheckResponse(Buffer.alloc(0)), 0);
    assert.equal(decodeHealthCheckResponse(encodeHealthCheckResponse(2)), 2);
    // unknown fields (a newer server) are skipped
    assert.equal(decodeHealthCheckResponse(Buffer.from([0x12, 1, 0x41, 0x08, 0x01, 0x1d, 0, 0, 0, 0])), 1);
    assert.throws(() => decodeHealthCheckResponse(Buffer.from([0x08])), /truncated/);
    assert.throws(() => decodeHealthCheckResponse(Buffer.from([0x0b])), /wire type/);
  });
});
