#!/usr/bin/env node
// Makes sure the real parts the tests, demo and benchmarks run against are
// installed (Debian packages). As root it installs what is missing with
// apt-get; otherwise it prints the exact command and fails.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const PACKAGES = {
  zookeeper: () => existsSync('/usr/share/java/zookeeper.jar'),
  haproxy: () => onPath('haproxy'),
  'redis-server': () => onPath('redis-server'),
  wrk: () => onPath('wrk'),
  chromium: () => existsSync('/usr/bin/chromium'),
  'default-jre-headless': () => onPath('java'),
  'etcd-server': () => onPath('etcd'),
  // the init a container runs the writer under (test/integration/container-pid1.test.ts)
  tini: () => onPath('tini'),
  // `ip` lives in /usr/sbin or /sbin, which a non-root PATH may lack
  iproute2: () => onPath('ip') || existsSync('/usr/sbin/ip') || existsSync('/sbin/ip'),
};

const PURPOSES = {
  test: ['default-jre-headless', 'zookeeper', 'haproxy', 'redis-server', 'chromium', 'etcd-server', 'iproute2', 'tini'],
  demo: ['default-jre-headless', 'zookeeper', 'haproxy', 'redis-server'],
  bench: ['default-jre-headless', 'zookeeper', 'haproxy', 'redis-server', 'wrk'],
  // hosts in network namespaces (test/fleet, npm run fleet)
  fleet: ['default-jre-headless', 'zookeeper', 'haproxy', 'iproute2'],
};

/** An executable `command` in a $PATH folder; looked up here rather than through a shell (no shell strings anywhere). */
function onPath(command) {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .some((folder) => {
      try {
        accessSync(join(folder, command), constants.X_OK);
        return statSync(join(folder, command)).isFile();
      } catch {
        return false;
      }
    });
}

// A fresh clone has no node_modules yet: `npm run demo` / `npm test` must work
// without a separate `npm ci` (it also builds dist/ through the prepare script).
const root = new URL('..', import.meta.url);
if (!existsSync(new URL('node_modules/.package-lock.json', root))) {
  console.error('installing npm packages (npm ci) ...');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit', cwd: root });
}

const purpose = process.argv[2] ?? 'test';
const wanted = PURPOSES[purpose];
if (!wanted) {
  console.error(`ensure-system-packages: unknown purpose "${purpose}" (test, demo, bench, fleet)`);
  process.exit(2);
}
const missing = wanted.filter((name) => !PACKAGES[name]());
if (missing.length === 0) process.exit(0);

const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
if (process.getuid?.() !== 0) {
  console.error(`Lighthouse needs these Debian packages for "${purpose}": ${missing.join(', ')}.\nInstall them as root:\n  sudo sh -c '${command}'`);
  process.exit(1);
}
console.error(`installing missing Debian packages for "${purpose}": ${missing.join(', ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
const still = missing.filter((name) => !PACKAGES[name]());
if (still.length > 0) {
  console.error(`ensure-system-packages: still missing after apt-get: ${still.join(', ')}`);
  process.exit(1);
}
