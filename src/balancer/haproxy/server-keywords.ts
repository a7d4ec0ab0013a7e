/**
 * Server line keywords of HAProxy 2.6 (configuration manual 5.2) and the
 * subset the runtime API accepts for `add server` (management guide 9.3,
 * "add server"). A backend whose servers need any other keyword cannot get
 * servers at run time: its membership changes go through a reload instead.
 */
const DYNAMIC_SERVER_KEYWORDS: ReadonlySet<string> = new Set([
  'agent-addr', 'agent-check', 'agent-inter', 'agent-port', 'agent-send', 'allow-0rtt', 'alpn', 'addr', 'backup',
  'ca-file', 'check', 'check-alpn', 'check-proto', 'check-send-proxy', 'check-sni', 'check-ssl', 'check-via-socks4',
  'ciphers', 'ciphersuites', 'crl-file', 'crt', 'disabled', 'downinter', 'enabled', 'error-limit', 'fall', 'fastinter',
  'force-sslv3', 'force-tlsv10', 'force-tlsv11', 'force-tlsv12', 'force-tlsv13', 'id', 'inter', 'maxconn', 'maxqueue',
  'minconn', 'no-ssl-reuse', 'no-sslv3', 'no-tlsv10', 'no-tlsv11', 'no-tlsv12', 'no-tlsv13', 'no-tls-tickets', 'npn',
  'observe', 'on-error', 'on-marked-down', 'on-marked-up', 'pool-low-conn', 'pool-max-conn', 'pool-purge-delay', 'port',
  'proto', 'proxy-v2-options', 'rise', 'send-proxy', 'send-proxy-v2', 'send-proxy-v2-ssl', 'send-proxy-v2-ssl-cn',
  'slowstart', 'sni', 'source', 'ssl', 'ssl-max-ver', 'ssl-min-ver', 'tfo', 'tls-tickets', 'track', 'usesrc', 'verify',
  'verifyhost', 'weight', 'ws',
]);

const STATIC_ONLY_SERVER_KEYWORDS: ReadonlySet<string> = new Set([
  'cookie', 'init-addr', 'log-proto', 'max-reuse', 'namespace', 'no-agent-check', 'no-backup', 'no-check', 'no-check-ssl',
  'no-send-proxy', 'no-send-proxy-v2', 'no-send-proxy-v2-ssl', 'no-send-proxy-v2-ssl-cn', 'no-ssl', 'no-tfo',
  'no-verifyhost', 'non-stick', 'redir', 'resolve-net', 'resolve-opts', 'resolve-prefer', 'resolvers', 'socks4',
  'ssl-reuse', 'stick', 'tcp-ut',
]);

export function isServerKeyword(word: string): boolean {
  return DYNAMIC_SERVER_KEYWORDS.has(word) || STATIC_ONLY_SERVER_KEYWORDS.has(word);
}

/** Keywords among `words` that `add server` refuses (arguments of other keywords are never keywords here). */
export function staticOnlyKeywords(words: readonly string[]): string[] {
  return [...new Set(words.filter((word) => STATIC_ONLY_SERVER_KEYWORDS.has(word)))];
}
