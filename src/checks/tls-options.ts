import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { describeError } from './line-exchange.js';

export interface TlsSettings {
  /** the address the check connects to */
  host: string;
  /** the `host_header` setting (may carry a :port), which names the service when set */
  hostHeader: string | undefined;
  /** PEM file of the CAs to trust instead of the system's */
  caFile: string | undefined;
  /** skip certificate verification */
  insecure: boolean;
}

/**
 * How an https check connects. By default it verifies the certificate
 * against the system CAs and the name the check uses for the service (the
 * Host header's name when set, else the address), and sends that name as SNI
 * unless it is an IP address (SNI carries host names only). This is what the
 * original Lighthouse's `http.client.HTTPSConnection` does on any Python it
 * runs on (2.7.9 and 3.4.3 on). `ca_file` replaces the system CAs (a private
 * CA); `insecure` turns verification off.
 *
 * Built once per check: a secure context per connection would parse the CA
 * bundle on every run. Returns an error text when the CA file cannot be used,
 * so the check can fail with it rather than the reporter throwing.
 */
export function tlsConnectOptions(settings: TlsSettings): { options: ConnectionOptions; verifiedName: string } | { error: string } {
  const name = (settings.hostHeader ?? settings.host).replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const options: ConnectionOptions = { rejectUnauthorized: !settings.insecure };
  if (isIP(name) === 0) options.servername = name;
  if (settings.insecure) return { options, verifiedName: name };
  if (settings.caFile !== undefined) {
    try {
      options.secureContext = createSecureContext({ ca: readFileSync(settings.caFile) });
    } catch (error) {
      return { error: `cannot use ca_file ${settings.caFile}: ${describeError(error)}` };
    }
  }
  // Checked against the service's name, not the address connected to, which is 127.0.0.1 for most services.
  options.checkServerIdentity = (_host: string, certificate: PeerCertificate) => checkServerIdentity(name, certificate);
  return { options, verifiedName: name };
}

/** Node's verification errors name the problem; this adds what would have passed. */
export function describeTlsError(error: unknown, settings: TlsSettings, verifiedName: string): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const trusted = settings.caFile === undefined ? 'the system CAs' : `ca_file ${settings.caFile}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `certificate rejected: ${describeError(error)} (expected a certificate for ${verifiedName}; set host_header to the name it is for, or insecure: true)`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) return `certificate rejected: ${describeError(error)} (${code}; expected a certificate for ${verifiedName} signed by ${trusted}; set ca_file, or insecure: true)`;
  return undefined;
}
