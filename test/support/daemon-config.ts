import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** Writes `files` (relative path -> YAML text) into a config directory, creating folders. */
export async function writeConfig(dir: string, files: Record<string, string>): Promise<void> {
  for (const [relative, text] of Object.entries(files)) {
    const path = join(dir, relative);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
  }
}

/** A balancer whose HAProxy files live in `runDir` and that listens on 127.0.0.1 only. */
export function haproxySettings(runDir: string): Record<string, unknown> {
  return {
    config_file: `${runDir}/haproxy.cfg`,
    socket_file: `${runDir}/haproxy.sock`,
    pid_file: `${runDir}/haproxy.pid`,
    bind_address: '127.0.0.1',
    global: ['maxconn 2000'],
    defaults: ['mode http', 'timeout connect 2s', 'timeout client 10s', 'timeout server 10s'],
  };
}

/** haproxySettings as a balancer file, with `extra` YAML lines appended. */
export function haproxyYaml(runDir: string, extra = ''): string {
  return `${stringify(haproxySettings(runDir))}${extra}`;
}

export function zookeeperYaml(hosts: readonly string[], path: string, extra = ''): string {
  return [`hosts: [${hosts.map((host) => `"${host}"`).join(', ')}]`, `path: ${path}`, 'session_timeout_ms: 4000', extra].join('\n');
}
