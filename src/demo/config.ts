import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';

// Errors here stay plain: they reach the user only through the demo command,
// which prints them under LH_DEMO_START (src/cli/demo-command.ts).

/** Every port the demo's two setups use; all listeners are on 127.0.0.1. */
export interface DemoPorts {
  zookeeper: number;
  redis: [number, number];
  /** machine-a runs two webapp instances (one service, two ports), machine-b one */
  webapp: [number, number, number];
  widgets: [number, number];
  sprockets: [number, number];
  partner: number;
  /** HAProxy listeners */
  webappFrontend: number;
  cacheFrontend: number;
  apiFrontend: number;
  partnerProxy: number;
  stats: number;
  /** the writer's /metrics, /healthz and dashboard */
  dashboard: number;
}

export const PORT_COUNT = 18;

export function assignPorts(ports: readonly number[]): DemoPorts {
  if (ports.length < PORT_COUNT) throw new Error(`the demo needs ${PORT_COUNT} ports, got ${ports.length}`);
  const take = (): number => ports[taken++]!;
  let taken = 0;
  return {
    zookeeper: take(),
    redis: [take(), take()],
    webapp: [take(), take(), take()],
    widgets: [take(), take()],
    sprockets: [take(), take()],
    partner: take(),
    webappFrontend: take(),
    cacheFrontend: take(),
    apiFrontend: take(),
    partnerProxy: take(),
    stats: take(),
    dashboard: take(),
  };
}

export interface DemoLayout {
  /** the writer's config dir (HAProxy, clusters) */
  writer: string;
  /** one reporter config dir per simulated machine */
  machines: { name: string; dir: string }[];
  /** where HAProxy's config, sockets and pid file go */
  haproxyDir: string;
}

export function demoLayout(root: string): DemoLayout {
  return {
    writer: join(root, 'writer'),
    machines: [
      { name: 'machine-a', dir: join(root, 'machine-a') },
      { name: 'machine-b', dir: join(root, 'machine-b') },
    ],
    haproxyDir: join(root, 'haproxy'),
  };
}

type Files = Record<string, unknown>;

/**
 * The files of both setups, by path relative to the demo folder. The same
 * function writes examples/ (with fixed ports), so the examples are exactly
 * what the demo runs.
 */
export function demoFiles(ports: DemoPorts, haproxyDir: string, setup: 'both' | 'web' | 'api' = 'both'): Files {
  const web = setup !== 'api';
  const api = setup !== 'web';
  const discovery = (machine: string | undefined): unknown => ({
    hosts: [`127.0.0.1:${ports.zookeeper}`],
    path: '/lighthouse/services',
    session_timeout_ms: 6000,
    // Both simulated machines are this one: they advertise a name of their own and the loopback address.
    ...(machine ? { advertise: { host: machine, ip: '127.0.0.1' } } : {}),
  });
  const httpCheck = (uri: string) => ({ interval: 1, http: { uri, rise: 2, fall: 2 } });
  const files: Files = {
    'writer/logging.yaml': { level: 'info' },
    'writer/discovery/zookeeper.yaml': discovery(undefined),
    'writer/balancers/haproxy.yaml': {
      config_file: `${haproxyDir}/haproxy.cfg`,
      socket_file: `${haproxyDir}/haproxy.sock`,
      pid_file: `${haproxyDir}/haproxy.pid`,
      bind_address: '127.0.0.1',
      global: ['maxconn 2000'],
      defaults: ['mode http', 'timeout connect 2s', 'timeout client 10s', 'timeout server 10s'],
      // (b) one port for the whole API; clusters join it with meta_cluster + acl
      ...(api ? { meta_clusters: { api: { port: ports.apiFrontend, frontend: ['mode http'] } } } : {}),
      // the sprockets call a fixed outside partner through this local proxy
      ...(api ? { proxies: { partner: { port: ports.partnerProxy, upstreams: [{ host: '127.0.0.1', port: ports.partner }], options: ['mode http'] } } } : {}),
      stats: { port: ports.stats, uri: '/' },
    },
  };
  if (web) {
    // (a) the webapp and the Redis cache it counts visits in
    files['writer/clusters/webapp.yaml'] = { discovery: 'zookeeper', haproxy: { port: ports.webappFrontend, frontend: ['mode http'], backend: ['mode http', 'balance roundrobin'] } };
    files['writer/clusters/cache.yaml'] = { discovery: 'zookeeper', haproxy: { port: ports.cacheFrontend, frontend: ['mode tcp'], backend: ['mode tcp', 'balance roundrobin'] } };
  }
  if (api) {
    // (b) two clusters behind one meta-cluster port, routed by path
    files['writer/clusters/widgets.yaml'] = { discovery: 'zookeeper', meta_cluster: 'api', haproxy: { acl: 'path_beg /api/widgets', backend: ['mode http'] } };
    files['writer/clusters/sprockets.yaml'] = { discovery: 'zookeeper', meta_cluster: 'api', haproxy: { acl: 'path_beg /api/sprockets', backend: ['mode http'] } };
  }
  const machines: [string, { webapp: number[]; redis: number; widgets: number; sprockets: number }][] = [
    ['machine-a', { webapp: [ports.webapp[0], ports.webapp[1]], redis: ports.redis[0], widgets: ports.widgets[0], sprockets: ports.sprockets[0] }],
    ['machine-b', { webapp: [ports.webapp[2]], redis: ports.redis[1], widgets: ports.widgets[1], sprockets: ports.sprockets[1] }],
  ];
  for (const [machine, own] of machines) {
    files[`${machine}/logging.yaml`] = { level: 'info' };
    files[`${machine}/discovery/zookeeper.yaml`] = discovery(machine);
    if (web) {
      files[`${machine}/services/webapp.yaml`] = { discovery: 'zookeeper', ports: own.webapp, metadata: { app: 'webapp' }, checks: httpCheck('/health') };
      files[`${machine}/services/cache.yaml`] = { discovery: 'zookeeper', port: own.redis, checks: { interval: 1, redis: { rise: 2, fall: 2 } } };
    }
    if (api) {
      files[`${machine}/services/widgets.yaml`] = { discovery: 'zookeeper', port: own.widgets, checks: httpCheck('/health') };
      files[`${machine}/services/sprockets.yaml`] = { discovery: 'zookeeper', port: own.sprockets, checks: httpCheck('/health') };
    }
  }
  return files;
}

export async function writeFiles(root: string, files: Files, header?: (path: string) => string): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${header?.(path) ?? ''}${stringify(content, { lineWidth: 0 })}`);
  }
}
