import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export interface Certificate {
  key: string;
  cert: string;
}

/**
 * A self-signed certificate made with openssl in `dir`, for `names` (DNS
 * names and IP addresses in its subjectAltName), or why there is none.
 * Self-signed, so it is also the CA file that trusts it.
 */
export function selfSignedCertificate(dir: string, file: string, names: readonly string[]): { ok: true; paths: Certificate } | { ok: false; reason: string } {
  const key = join(dir, `${file}.key`);
  const cert = join(dir, `${file}.pem`);
  const san = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  const result = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${names[0] ?? 'lighthouse-test'}`, '-addext', `subjectAltName=${san}`],
    { encoding: 'utf8' },
  );
  if (result.error) return { ok: false, reason: `openssl is not available (${result.error.message})` };
  if (result.status !== 0) return { ok: false, reason: `openssl failed: ${result.stderr.trim()}` };
  return { ok: true, paths: { key, cert } };
}
