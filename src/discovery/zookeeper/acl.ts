import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LighthouseError } from '../../lib/errors.js';
import { makeAcl, OPEN_ACL, Permission, type Acl } from './zk-client.js';
import type { ZookeeperAuthConfig } from './schema.js';

export interface DigestCredentials {
  user: string;
  password: string;
}

/**
 * Resolves the configured credentials. A secrets file holds one line
 * `user:password` so the password need not sit in a world-readable config
 * directory.
 */
export function resolveCredentials(auth: ZookeeperAuthConfig | undefined, configFile: string): DigestCredentials | undefined {
  if (!auth) return undefined;
  if ('user' in auth) return { user: auth.user, password: auth.password };
  let text: string;
  try {
    text = readFileSync(auth.secrets_file, 'utf8');
  } catch (error) {
    throw new LighthouseError('LH_CONFIG_INVALID', `cannot read secrets file ${auth.secrets_file}: ${(error as Error).message}`, { file: configFile, setting: 'auth.secrets_file' });
  }
  const line = text.split(/\r?\n/).find((candidate) => candidate.trim() !== '') ?? '';
  const colon = line.indexOf(':');
  if (colon <= 0 || colon === line.length - 1) {
    throw new LighthouseError('LH_CONFIG_INVALID', `secrets file ${auth.secrets_file} must contain one line "user:password"`, { file: configFile, setting: 'auth.secrets_file' });
  }
  return { user: line.slice(0, colon).trim(), password: line.slice(colon + 1).trim() };
}

/** ZooKeeper's digest identity: `user:base64(sha1("user:password"))`. */
export function digestId(credentials: DigestCredentials): string {
  const hash = createHash('sha1').update(`${credentials.user}:${credentials.password}`).digest('base64');
  return `${credentials.user}:${hash}`;
}

/**
 * The ACL of what the reporter creates: full rights for our identity only,
 * read for everyone (writers read without credentials). On the folders this
 * also guards the registrations: deleting a znode needs DELETE on its parent.
 */
export function registrationAcl(credentials: DigestCredentials | undefined): readonly Acl[] {
  if (!credentials) return OPEN_ACL;
  return [makeAcl(Permission.ALL, 'digest', digestId(credentials)), makeAcl(Permission.READ, 'world', 'anyone')];
}
