/**
 * Which directive keywords are legal in which section of an HAProxy 2.6
 * configuration. Taken from the 2.6 configuration manual shipped with the
 * installed HAProxy (/usr/share/doc/haproxy/configuration.txt.gz): section 3
 * (global keyword list), 3.5 (peers) and 4.1 (proxy keywords matrix), merged
 * with the per-keyword "May be used in sections" notes of 4.2 where the matrix
 * is silent (dynamic-cookie-key, hash-balance-factor, compression offload,
 * set-var-fmt, stats show-modules). Where the two disagreed, `haproxy -c`
 * decided: `option tcplog` is ignored in backends, `server-state-file-name`
 * is accepted in defaults.
 *
 * HAProxy itself accepts many misplaced keywords with only a warning and then
 * ignores them, so a typo or a backend-only setting in a frontend would
 * silently do nothing. Checking here turns that into an error that names the
 * setting, before anything is written. (Config files load such a proxy
 * keyword in another proxy section as a warning and drop it instead, as the
 * original Lighthouse did: see misplacedDirective.)
 */

export type Section = 'global' | 'defaults' | 'frontend' | 'backend' | 'listen' | 'peers';

/** Every keyword of the global section (section 3 of the manual). */
const GLOBAL_KEYWORDS: ReadonlySet<string> = new Set([
  '51degrees-cache-size', '51degrees-data-file', '51degrees-property-name-list', '51degrees-property-separator',
  'busy-polling', 'ca-base', 'chroot', 'close-spread-time', 'cluster-secret', 'cpu-map', 'crt-base', 'daemon',
  'default-path', 'description', 'deviceatlas-json-file', 'deviceatlas-log-level', 'deviceatlas-properties-cookie',
  'deviceatlas-separator', 'expose-experimental-directives', 'external-check', 'fd-hard-limit', 'gid', 'grace',
  'group', 'h1-accept-payload-with-any-method', 'h1-case-adjust', 'h1-case-adjust-file',
  'h2-workaround-bogus-websocket-clients', 'hard-stop-after', 'httpclient.resolvers.id',
  'httpclient.resolvers.prefer', 'httpclient.ssl.ca-file', 'httpclient.ssl.verify', 'insecure-fork-wanted',
  'insecure-setuid-wanted', 'issuers-chain-path', 'localpeer', 'log', 'log-send-hostname', 'log-tag', 'lua-load',
  'lua-load-per-thread', 'lua-prepend-path', 'master-worker', 'max-spread-checks', 'maxcompcpuusage', 'maxcomprate',
  'maxconn', 'maxconnrate', 'maxpipes', 'maxsessrate', 'maxsslconn', 'maxsslrate', 'maxzlibmem',
  'mworker-max-reloads', 'nbthread', 'no-memory-trimming', 'node', 'noepoll', 'noevports', 'nogetaddrinfo',
  'nokqueue', 'nopoll', 'noreuseport', 'nosplice', 'numa-cpu-mapping', 'pidfile', 'pp2-never-send-local',
  'presetenv', 'profiling.memory', 'profiling.tasks', 'quiet', 'resetenv', 'server-state-base', 'server-state-file',
  'set-dumpable', 'set-var', 'set-var-fmt', 'setenv', 'spread-checks', 'ssl-default-bind-ciphers',
  'ssl-default-bind-ciphersuites', 'ssl-default-bind-curves', 'ssl-default-bind-options',
  'ssl-default-server-ciphers', 'ssl-default-server-ciphersuites', 'ssl-default-server-options', 'ssl-dh-param-file',
  'ssl-engine', 'ssl-load-extra-del-ext', 'ssl-load-extra-files', 'ssl-mode-async', 'ssl-propquery', 'ssl-provider',
  'ssl-provider-path', 'ssl-server-verify', 'ssl-skip-self-issued-ca', 'stats', 'strict-limits', 'thread-group',
  'thread-groups', 'tune.buffers.limit', 'tune.buffers.reserve', 'tune.bufsize', 'tune.comp.maxlevel',
  'tune.fail-alloc', 'tune.fd.edge-triggered', 'tune.h2.header-table-size', 'tune.h2.initial-window-size',
  'tune.h2.max-concurrent-streams', 'tune.h2.max-frame-size', 'tune.http.cookielen', 'tune.http.logurilen',
  'tune.http.maxhdr', 'tune.idle-pool.shared', 'tune.idletimer', 'tune.listener.multi-queue',
  'tune.lua.forced-yield', 'tune.lua.maxmem', 'tune.lua.service-timeout', 'tune.lua.session-timeout',
  'tune.lua.task-timeout', 'tune.maxaccept', 'tune.maxpollevents', 'tune.maxrewrite', 'tune.pattern.cache-size',
  'tune.peers.max-updates-at-once', 'tune.pipesize', 'tune.pool-high-fd-ratio', 'tune.pool-low-fd-ratio',
  'tune.quic.frontend.conn-tx-buffers.limit', 'tune.quic.frontend.max-idle-timeout',
  'tune.quic.frontend.max-streams-bidi', 'tune.quic.retry-threshold', 'tune.rcvbuf.client', 'tune.rcvbuf.server',
  'tune.recv_enough', 'tune.runqueue-depth', 'tune.sched.low-latency', 'tune.sndbuf.client', 'tune.sndbuf.server',
  'tune.ssl.cachesize', 'tune.ssl.capture-buffer-size', 'tune.ssl.capture-cipherlist-size',
  'tune.ssl.default-dh-param', 'tune.ssl.force-private-cache', 'tune.ssl.hard-maxrecord', 'tune.ssl.keylog',
  'tune.ssl.lifetime', 'tune.ssl.maxrecord', 'tune.ssl.ssl-ctx-cache-size', 'tune.vars.global-max-size',
  'tune.vars.proc-max-size', 'tune.vars.reqres-max-size', 'tune.vars.sess-max-size', 'tune.vars.txn-max-size',
  'tune.zlib.memlevel', 'tune.zlib.windowsize', 'uid', 'ulimit-n', 'unix-bind', 'unsetenv', 'user',
  'wurfl-cache-size', 'wurfl-data-file', 'wurfl-information-list', 'wurfl-information-list-separator',
  'wurfl-patch-file', 'zero-warning',
]);

/**
 * Global keywords that would fight with how Lighthouse runs HAProxy
 * (it starts the process itself in master-worker mode and owns the pid file).
 */
export const MANAGED_GLOBAL: Readonly<Record<string, string>> = {
  daemon: 'Lighthouse runs HAProxy as a detached master-worker process itself',
  'master-worker': 'Lighthouse always starts HAProxy in master-worker mode (-W)',
  pidfile: 'the pid file is the balancer setting pid_file',
};

const PEERS_KEYWORDS: ReadonlySet<string> = new Set(['bind', 'default-bind', 'default-server', 'disabled', 'enabled', 'log', 'peer', 'server', 'table']);

/**
 * Proxy keywords (4.1). Flags: d = defaults, n = only in *named* defaults
 * sections (Lighthouse generates an anonymous one), f = frontend, l = listen,
 * b = backend, * = may be prefixed with "no" or "default".
 */
const PROXY_TABLE: readonly (readonly [string, string])[] = [
  ['acl', 'nflb'],
  ['backlog', 'dfl-'],
  ['balance', 'd-lb'],
  ['bind', '-fl-'],
  ['bind-process', 'dflb'],
  ['capture cookie', '-fl-'],
  ['capture request header', '-fl-'],
  ['capture response header', '-fl-'],
  ['clitcpka-cnt', 'dfl-'],
  ['clitcpka-idle', 'dfl-'],
  ['clitcpka-intvl', 'dfl-'],
  ['compression algo', 'dflb'],
  ['compression offload', '-flb'],
  ['compression type', 'dflb'],
  ['cookie', 'd-lb'],
  ['declare capture', '-fl-'],
  ['default-server', 'd-lb'],
  ['default_backend', 'dfl-'],
  ['description', '-flb'],
  ['disabled', 'dflb'],
  ['dispatch', '--lb'],
  ['dynamic-cookie-key', 'd-lb'],
  ['email-alert from', 'dflb'],
  ['email-alert level', 'dflb'],
  ['email-alert mailers', 'dflb'],
  ['email-alert myhostname', 'dflb'],
  ['email-alert to', 'dflb'],
  ['enabled', 'dflb'],
  ['error-log-format', 'dfl-'],
  ['errorfile', 'dflb'],
  ['errorfiles', 'dflb'],
  ['errorloc', 'dflb'],
  ['errorloc302', 'dflb'],
  ['errorloc303', 'dflb'],
  ['external-check command', 'd-lb'],
  ['external-check path', 'd-lb'],
  ['filter', '-flb'],
  ['force-persist', '--lb'],
  ['fullconn', 'd-lb'],
  ['hash-balance-factor', 'd-lb'],
  ['hash-type', 'd-lb'],
  ['http-after-response', 'nflb'],
  ['http-check comment', 'd-lb'],
  ['http-check connect', 'd-lb'],
  ['http-check disable-on-404', 'd-lb'],
  ['http-check expect', 'd-lb'],
  ['http-check send', 'd-lb'],
  ['http-check send-state', 'd-lb'],
  ['http-check set-var', 'd-lb'],
  ['http-check set-var-fmt', 'd-lb'],
  ['http-check unset-var', 'd-lb'],
  ['http-error', 'dflb'],
  ['http-request', 'nflb'],
  ['http-response', 'nflb'],
  ['http-reuse', 'd-lb'],
  ['http-send-name-header', 'd-lb'],
  ['id', '-flb'],
  ['ignore-persist', '--lb'],
  ['load-server-state-from-file', 'd-lb'],
  ['log', 'dflb*'],
  ['log-format', 'dfl-'],
  ['log-format-sd', 'dfl-'],
  ['log-tag', 'dflb'],
  ['max-keep-alive-queue', 'd-lb'],
  ['maxconn', 'dfl-'],
  ['mode', 'dflb'],
  ['monitor fail', '-fl-'],
  ['monitor-uri', 'dfl-'],
  ['option abortonclose', 'd-lb*'],
  ['option accept-invalid-http-request', 'dfl-*'],
  ['option accept-invalid-http-response', 'd-lb*'],
  ['option allbackups', 'd-lb*'],
  ['option checkcache', 'd-lb*'],
  ['option clitcpka', 'dfl-*'],
  ['option contstats', 'dfl-*'],
  ['option disable-h2-upgrade', 'dfl-*'],
  ['option dontlog-normal', 'dfl-*'],
  ['option dontlognull', 'dfl-*'],
  ['option external-check', 'd-lb'],
  ['option forwardfor', 'dflb'],
  ['option h1-case-adjust-bogus-client', 'dfl-*'],
  ['option h1-case-adjust-bogus-server', 'd-lb*'],
  ['option http-buffer-request', 'dflb*'],
  ['option http-ignore-probes', 'dfl-*'],
  ['option http-keep-alive', 'dflb*'],
  ['option http-no-delay', 'dflb*'],
  ['option http-pretend-keepalive', 'd-lb*'],
  ['option http-restrict-req-hdr-names', 'dflb'],
  ['option http-server-close', 'dflb*'],
  ['option http-use-proxy-header', 'dfl-*'],
  ['option httpchk', 'd-lb'],
  ['option httpclose', 'dflb*'],
  ['option httplog', 'dfl-'],
  ['option httpslog', 'dfl-'],
  ['option idle-close-on-response', 'dfl-*'],
  ['option independent-streams', 'dflb*'],
  ['option ldap-check', 'd-lb'],
  ['option log-health-checks', 'd-lb*'],
  ['option log-separate-errors', 'dfl-*'],
  ['option logasap', 'dfl-*'],
  ['option mysql-check', 'd-lb'],
  ['option nolinger', 'dflb*'],
  ['option originalto', 'dflb'],
  ['option persist', 'd-lb*'],
  ['option pgsql-check', 'd-lb'],
  ['option prefer-last-server', 'd-lb*'],
  ['option redis-check', 'd-lb'],
  ['option redispatch', 'd-lb*'],
  ['option smtpchk', 'd-lb'],
  ['option socket-stats', 'dfl-*'],
  ['option splice-auto', 'dflb*'],
  ['option splice-request', 'dflb*'],
  ['option splice-response', 'dflb*'],
  ['option spop-check', 'd-lb'],
  ['option srvtcpka', 'd-lb*'],
  ['option ssl-hello-chk', 'd-lb'],
  ['option tcp-check', 'd-lb'],
  ['option tcp-smart-accept', 'dfl-*'],
  ['option tcp-smart-connect', 'd-lb*'],
  ['option tcpka', 'dflb'],
  ['option tcplog', 'dfl-'],
  ['option transparent', 'd-lb*'],
  ['persist rdp-cookie', 'd-lb'],
  ['rate-limit sessions', 'dfl-'],
  ['redirect', '-flb'],
  ['retries', 'd-lb'],
  ['retry-on', 'd-lb'],
  ['server', '--lb'],
  ['server-state-file-name', 'd-lb'],
  ['server-template', '--lb'],
  ['source', 'd-lb'],
  ['srvtcpka-cnt', 'd-lb'],
  ['srvtcpka-idle', 'd-lb'],
  ['srvtcpka-intvl', 'd-lb'],
  ['stats admin', '-flb'],
  ['stats auth', 'dflb'],
  ['stats enable', 'dflb'],
  ['stats hide-version', 'dflb'],
  ['stats http-request', '--lb'],
  ['stats realm', 'dflb'],
  ['stats refresh', 'dflb'],
  ['stats scope', 'dflb'],
  ['stats show-desc', 'dflb'],
  ['stats show-legends', 'dflb'],
  ['stats show-modules', 'dflb'],
  ['stats show-node', 'dflb'],
  ['stats uri', 'dflb'],
  ['stick match', '--lb'],
  ['stick on', '--lb'],
  ['stick store-request', '--lb'],
  ['stick store-response', '--lb'],
  ['stick-table', '-flb'],
  ['tcp-check comment', 'd-lb'],
  ['tcp-check connect', 'd-lb'],
  ['tcp-check expect', 'd-lb'],
  ['tcp-check send', 'd-lb'],
  ['tcp-check send-binary', 'd-lb'],
  ['tcp-check send-binary-lf', 'd-lb'],
  ['tcp-check send-lf', 'd-lb'],
  ['tcp-check set-var', 'd-lb'],
  ['tcp-check set-var-fmt', 'd-lb'],
  ['tcp-check unset-var', 'd-lb'],
  ['tcp-request connection', 'nfl-'],
  ['tcp-request content', 'nflb'],
  ['tcp-request inspect-delay', 'nflb'],
  ['tcp-request session', 'nfl-'],
  ['tcp-response content', 'n-lb'],
  ['tcp-response inspect-delay', 'n-lb'],
  ['timeout check', 'd-lb'],
  ['timeout client', 'dfl-'],
  ['timeout client-fin', 'dfl-'],
  ['timeout connect', 'd-lb'],
  ['timeout http-keep-alive', 'dflb'],
  ['timeout http-request', 'dflb'],
  ['timeout queue', 'd-lb'],
  ['timeout server', 'd-lb'],
  ['timeout server-fin', 'd-lb'],
  ['timeout tarpit', 'dflb'],
  ['timeout tunnel', 'd-lb'],
  ['transparent', 'd-lb'],
  ['unique-id-format', 'dfl-'],
  ['unique-id-header', 'dfl-'],
  ['use-fcgi-app', '--lb'],
  ['use-server', '--lb'],
  ['use_backend', '-fl-'],

];

interface ProxyKeyword {
  defaults: 'yes' | 'named' | 'no';
  frontend: boolean;
  listen: boolean;
  backend: boolean;
  invertible: boolean;
}

const PROXY_KEYWORDS: ReadonlyMap<string, ProxyKeyword> = new Map(
  PROXY_TABLE.map(([keyword, flags]) => [
    keyword,
    {
      defaults: flags[0] === 'd' ? 'yes' : flags[0] === 'n' ? 'named' : 'no',
      frontend: flags[1] === 'f',
      listen: flags[2] === 'l',
      backend: flags[3] === 'b',
      invertible: flags.includes('*'),
    },
  ]),
);

/** Longest proxy keyword has three words (`capture request header`). */
const MAX_KEYWORD_WORDS = 3;

/** A word as it appears in the keyword tables: `set-var(txn.x)` is keyword `set-var`. */
function keywordWord(word: string): string {
  const paren = word.indexOf('(');
  return paren > 0 ? word.slice(0, paren) : word;
}

function allowedIn(keyword: ProxyKeyword, section: Exclude<Section, 'global' | 'peers'>): boolean {
  switch (section) {
    case 'defaults':
      return keyword.defaults === 'yes';
    case 'frontend':
      return keyword.frontend;
    case 'listen':
      return keyword.listen;
    case 'backend':
      return keyword.backend;
  }
}

function sectionsOf(keyword: ProxyKeyword): string {
  const sections: string[] = [];
  if (keyword.defaults === 'yes') sections.push('defaults');
  if (keyword.defaults === 'named') sections.push('named defaults');
  if (keyword.frontend) sections.push('frontend');
  if (keyword.listen) sections.push('listen');
  if (keyword.backend) sections.push('backend');
  return sections.join(', ');
}

function findProxyKeyword(words: readonly string[]): { name: string; keyword: ProxyKeyword } | undefined {
  for (let length = Math.min(MAX_KEYWORD_WORDS, words.length); length >= 1; length -= 1) {
    const name = words.slice(0, length).map(keywordWord).join(' ');
    const keyword = PROXY_KEYWORDS.get(name);
    if (keyword) return { name, keyword };
  }
  return undefined;
}

/** The line's first word (two for multi-word families), for messages about unknown directives. */
function shownKeyword(words: readonly string[]): string {
  const families = new Set(['option', 'timeout', 'stats', 'http-check', 'tcp-check', 'tcp-request', 'tcp-response', 'capture', 'stick', 'email-alert', 'compression', 'external-check', 'monitor', 'rate-limit', 'persist', 'declare']);
  return words.length > 1 && families.has(words[0]!) ? `${words[0]} ${keywordWord(words[1]!)}` : keywordWord(words[0] ?? '');
}

/**
 * Checks one user-supplied directive line for a section. Returns a message
 * naming the section and the directive when it is not legal there, or
 * `undefined` when it is. Comment lines (`# ...`) are allowed.
 */
export function checkDirective(section: Section, line: string): string | undefined {
  if (/[\r\n\0]/.test(line)) return `a ${section} directive must be a single line (it contains a line break or NUL character)`;
  const trimmed = line.trim();
  if (trimmed === '') return `a ${section} directive must not be empty`;
  if (trimmed.startsWith('#')) return undefined;
  const words = trimmed.split(/\s+/);
  const first = words[0]!;

  if (section === 'global') {
    const managed = MANAGED_GLOBAL[first];
    if (managed) return `"${first}" is not allowed in the global section: ${managed}`;
    return GLOBAL_KEYWORDS.has(first) ? undefined : `"${first}" is not a global directive of HAProxy 2.6`;
  }
  if (section === 'peers') {
    return PEERS_KEYWORDS.has(first) ? undefined : `"${first}" is not a directive of an HAProxy 2.6 peers section (allowed: ${[...PEERS_KEYWORDS].join(', ')})`;
  }

  let found = findProxyKeyword(words);
  let prefix = '';
  if (!found && (first === 'no' || first === 'default') && words.length > 1) {
    const inverted = findProxyKeyword(words.slice(1));
    if (inverted) {
      if (!inverted.keyword.invertible) return `"${first} ${inverted.name}" is not valid in a ${section} section: "${inverted.name}" cannot be prefixed with "${first}"`;
      found = inverted;
      prefix = `${first} `;
    }
  }
  if (!found) {
    const global = GLOBAL_KEYWORDS.has(first) && !PROXY_KEYWORDS.has(first) ? ' (it is a global directive)' : '';
    return `"${shownKeyword(words)}" is not a directive of an HAProxy 2.6 ${section} section${global}`;
  }
  if (allowedIn(found.keyword, section)) return undefined;
  if (section === 'defaults' && found.keyword.defaults === 'named') {
    return `"${prefix}${found.name}" is only allowed in named defaults sections and Lighthouse generates an anonymous one: put it in the frontend/backend lines of the clusters that need it`;
  }
  return `"${prefix}${found.name}" is not allowed in a ${section} section (allowed in: ${sectionsOf(found.keyword) || 'none'})`;
}

/**
 * The message of `checkDirective` when the line is a proxy keyword in a
 * proxy section that does not take it (`maxconn` in a backend), else
 * undefined. HAProxy ignores such a line with a warning, and the original
 * Lighthouse dropped it with one ("Invalid line for backend section"), so a
 * migrated file keeps its meaning when it is dropped with a warning here
 * too; the original's own docs put `maxconn` in a backend. Typos, global
 * keywords in proxy sections (and the reverse) and keywords of named
 * defaults sections stay errors: HAProxy would refuse to start on them.
 */
export function misplacedDirective(section: Exclude<Section, 'global' | 'peers'>, line: string): string | undefined {
  const message = checkDirective(section, line);
  if (message === undefined || /[\r\n\0]/.test(line)) return undefined;
  const words = line.trim().split(/\s+/);
  const first = words[0] ?? '';
  let found = findProxyKeyword(words);
  if (!found && (first === 'no' || first === 'default') && words.length > 1) {
    const inverted = findProxyKeyword(words.slice(1));
    if (inverted?.keyword.invertible) found = inverted;
  }
  if (!found || (section === 'defaults' && found.keyword.defaults === 'named')) return undefined;
  return message;
}
