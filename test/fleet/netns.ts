import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Hosts on one machine: each host is a network namespace joined to a bridge
 * in the root namespace by a veth pair, with an address from 198.18.0.0/15
 * (the benchmarking range). The bridge has an address too, so the test
 * process can reach every host; nothing else is on the bridge and no host
 * has a default route, so nothing is ever routed off the machine.
 *
 * Every name starts with `lhf<run id>-` (the run id is this process's PID in
 * base 36), short enough for the 15-character limit of interface names. A
 * run that crashed leaves namespaces, veth ends, a bridge, /etc/netns files
 * and a temp dir behind; the next run sweeps those of runs whose process is
 * gone, by that prefix and only by it.
 */

const run = promisify(execFile);
const PREFIX = 'lhf';
const NAME = /^lhf([0-9a-z]+)-/;

export interface FleetHost {
  /** host name (inside its own UTS namespace) */
  name: string;
  /** namespace name, also the root-side veth end's name */
  ns: string;
  ip: string;
}

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 });
  return stdout;
}

function ipSync(...args: string[]): string {
  try {
    return execFileSync('ip', args, { timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return '';
  }
}

/** Why namespaces cannot be used here, or undefined when they can (tried for real: a probe namespace is created and deleted). */
export function namespacesUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root, as .ci/run does)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the `ip` command (iproute2) is missing: apt-get install iproute2';
  }
  try {
    execFileSync('unshare', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'the `unshare` command (util-linux) is missing';
  }
  const probe = `${PREFIX}${runId()}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    return `cannot create a network namespace: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
  ipSync('netns', 'del', probe);
  return undefined;
}

export function runId(pid = process.pid): string {
  return pid.toString(36);
}

/** A run's process still exists: not a zombie (a just-killed run is one until reaped), and a node process (not a reused PID). */
function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return false;
  }
}

/** True for a name made by a fleet run whose process no longer exists. */
function stale(name: string): boolean {
  const match = NAME.exec(name);
  return match !== null && !pidAlive(parseInt(match[1]!, 36));
}

/** Kills every process inside namespace `ns` (by PID, as `ip netns pids` lists them). */
export function killNamespaceProcesses(ns: string, signal: NodeJS.Signals = 'SIGKILL'): number[] {
  const pids = ipSync('netns', 'pids', ns).split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  return pids;
}

function removeNamespace(ns: string): void {
  killNamespaceProcesses(ns);
  ipSync('netns', 'del', ns);
  // A deleted namespace does not always take the root-side veth end with it.
  ipSync('link', 'del', ns);
  rmSync(join('/etc/netns', ns), { recursive: true, force: true });
}

/** Removes what crashed earlier runs left behind: only names with our prefix whose run's process is gone. */
export function sweepStale(): string[] {
  const swept: string[] = [];
  const namespaces = ipSync('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(stale);
  for (const ns of namespaces) {
    removeNamespace(ns);
    swept.push(`netns ${ns}`);
  }
  const links = ipSync('-o', 'link', 'show')
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '')
    .filter(stale);
  for (const link of links) {
    ipSync('link', 'del', link);
    swept.push(`link ${link}`);
  }
  if (existsSync('/etc/netns')) {
    for (const entry of readdirSync('/etc/netns').filter(stale)) {
      rmSync(join('/etc/netns', entry), { recursive: true, force: true });
      swept.push(`/etc/netns/${entry}`);
    }
  }
  for (const entry of readdirSync(tmpdir()).filter(stale)) {
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    swept.push(join(tmpdir(), entry));
  }
  return swept;
}

/** A /24 of 198.18.0.0/15 no address of this machine is in yet (another run's bridge, say). */
function freeSubnet(): string {
  const used = ipSync('-4', '-o', 'addr', 'show');
  for (let offset = 0; offset < 512; offset += 1) {
    const index = (process.pid + offset) % 512;
    const subnet = `198.${18 + Math.floor(index / 256)}.${index % 256}`;
    if (!used.includes(` ${subnet}.`)) return subnet;
  }
  throw new Error('no free /24 in 198.18.0.0/15');
}

/**
 * The bridge and the hosts of one run. `hostsLines` go into each host's
 * /etc/hosts (through /etc/netns/NS/hosts, which `ip netns exec` mounts over
 * /etc/hosts), so every host resolves every other by name, as in a fleet.
 */
export class FleetNetwork {
  readonly hosts: FleetHost[] = [];
  private removed = false;

  private constructor(
    readonly prefix: string,
    readonly subnet: string,
    readonly bridge: string,
    /** the root namespace's address on the bridge */
    readonly bridgeIp: string,
    readonly domain: string,
  ) {}

  static async create(hostNames: readonly { name: string; octet: number }[], domain: string): Promise<FleetNetwork> {
    sweepStale();
    const prefix = `${PREFIX}${runId()}`;
    const subnet = freeSubnet();
    const network = new FleetNetwork(prefix, subnet, `${prefix}-br`, `${subnet}.254`, domain);
    process.on('exit', () => network.removeSync());
    try {
      await ip('link', 'add', network.bridge, 'type', 'bridge');
      await ip('addr', 'add', `${network.bridgeIp}/24`, 'dev', network.bridge);
      await ip('link', 'set', network.bridge, 'up');
      for (const { name, octet } of hostNames) network.hosts.push({ name, ns: `${prefix}-${name.replace(/[^a-z0-9]/g, '')}`, ip: `${subnet}.${octet}` });
      const hostsFile = [
        '127.0.0.1 localhost',
        ...network.hosts.map((host) => `${host.ip} ${host.name}.${domain} ${host.name}`),
        '',
      ].join('\n');
      for (const host of network.hosts) {
        await ip('netns', 'add', host.ns);
        await ip('link', 'add', host.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns);
        await ip('link', 'set', host.ns, 'master', network.bridge, 'up');
        await ip('-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
        await ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
        await ip('-n', host.ns, 'link', 'set', 'lo', 'up');
        await mkdir(join('/etc/netns', host.ns), { recursive: true });
        await writeFile(join('/etc/netns', host.ns, 'hosts'), hostsFile);
      }
      const routes = await Promise.all(network.hosts.map((host) => ip('-n', host.ns, 'route', 'show', 'default')));
      if (routes.some((text) => text.trim() !== '')) throw new Error('a fleet host has a default route');
    } catch (error) {
      network.removeSync();
      throw error;
    }
    return network;
  }

  host(name: string): FleetHost {
    const host = this.hosts.find((candidate) => candidate.name === name);
    if (!host) throw new Error(`no fleet host ${name}`);
    return host;
  }

  /** A temp dir path of this run (swept like the links if the run crashes). */
  tempPath(): string {
    return join(tmpdir(), `${this.prefix}-fleet`);
  }

  /** Cuts a host off: its root-side veth end goes down, so nothing reaches it and nothing leaves it. */
  async cut(host: FleetHost): Promise<void> {
    await ip('link', 'set', host.ns, 'down');
  }

  async heal(host: FleetHost): Promise<void> {
    await ip('link', 'set', host.ns, 'up');
  }

  /** Kills whatever still runs in the namespaces, deletes them, both veth ends, the bridge and the hosts files. Safe to call twice. */
  removeSync(): void {
    if (this.removed) return;
    this.removed = true;
    for (const host of this.hosts) removeNamespace(host.ns);
    ipSync('link', 'del', this.bridge);
  }

  /** Names of this run's links and namespaces that still exist (for the test that cleanup left nothing). */
  static leftovers(prefix: string): string[] {
    const names = [
      ...ipSync('netns', 'list').split('\n').map((line) => line.split(' ')[0] ?? ''),
      ...ipSync('-o', 'link', 'show').split('\n').map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? ''),
    ];
    return names.filter((name) => name.startsWith(`${prefix}-`));
  }
}
