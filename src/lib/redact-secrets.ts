/**
 * Credentials out of text meant to be shown or pasted (`lighthouse
 * config-dump`, a quoted config line in a log). Two ways a credential
 * appears in Lighthouse's config: as the value of a setting whose name says
 * so (`password`, a `token`, an `Authorization` header of an HTTP check), and
 * inside a directive line passed through to HAProxy (`stats auth user:pass`,
 * a userlist's `password`, a header set to a bearer token), which also lands
 * in the rendered config. A name alone cannot catch the second, so lines are
 * matched by the directive's shape too.
 */
export const REDACTED = '<redacted>';

/** Setting and header names whose string value is a credential. */
const SECRET_KEY = /^(password|passwd|passphrase|secret|token|credentials?|authorization|proxy-authorization|cookie|x-api-key|.*[-_](password|passphrase|token|secret)|.*(api|access|secret|private)[-_]?key)$/i;

/** The user of `user:password` may be shown; the rest may not. */
function redactUserPassword(value: string): string {
  const colon = value.indexOf(':');
  return colon > 0 ? `${value.slice(0, colon)}:${REDACTED}` : REDACTED;
}

const LINE_PATTERNS: readonly [RegExp, (...groups: string[]) => string][] = [
  // HAProxy `stats auth <user>:<password>`
  [/(\bstats\s+auth\s+)(\S+)/gi, (_match, keyword, credential) => `${keyword}${redactUserPassword(credential!)}`],
  // HAProxy userlist: `user <name> password <hash>` / `insecure-password <password>`
  [/(\b(?:insecure-)?password\s+)(\S+)/gi, (_match, keyword) => `${keyword}${REDACTED}`],
  // a header whose value is a credential, set or added by a directive (`http-request set-header Authorization Bearer x`)
  [/(\b(?:set|add|replace)-header\s+(?:authorization|proxy-authorization|cookie|x-api-key|api-key)\s+)(.+)$/gi, (_match, keyword) => `${keyword}${REDACTED}`],
  // a YAML or JSON setting whose name says it is a credential (a quoted config line): `password: x`, `"token": "x"`
  [/(["']?\b[\w-]*(?:password|passwd|secret|token|authorization|api[-_]?key|cookie)["']?\s*:\s*)(\S.*)$/gi, (_match, key) => `${key}${REDACTED}`],
  // `auth: user:password` (HAProxy stats) keeps the user
  [/(\bauth["']?\s*:\s*["']?)([^\s"':]+):(\S+)$/gi, (_match, key, user) => `${key}${user}:${REDACTED}`],
  // a URL with a password in it (`http://user:pass@host`)
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:)[^\s/@]+@/gi, (_match, prefix) => `${prefix}${REDACTED}@`],
];

/** One line of config text (a directive, a quoted line) with its credentials replaced. */
export function redactLine(line: string): string {
  let out = line;
  for (const [pattern, replace] of LINE_PATTERNS) out = out.replace(pattern, replace as (substring: string, ...args: string[]) => string);
  return out;
}

/** Multi-line config text, line by line. */
export function redactText(text: string): string {
  return text.split('\n').map(redactLine).join('\n');
}

/**
 * A settings tree with every credential replaced: the string value of a
 * secret-named key (`auth: user:pass` keeps the user), and credentials inside
 * every other string (directive lines).
 */
export function redactSecrets(value: unknown): unknown {
  if (typeof value === 'string') return redactLine(value);
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, inner]) => {
      if (typeof inner !== 'string') return [key, redactSecrets(inner)];
      if (SECRET_KEY.test(key)) return [key, REDACTED];
      if (/^auth$/i.test(key)) return [key, redactUserPassword(inner)];
      return [key, redactLine(inner)];
    }),
  );
}
