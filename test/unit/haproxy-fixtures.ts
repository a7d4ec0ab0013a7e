import type { ClusterNode } from '../../src/discovery/node.js';
import type { BalancedCluster } from '../../src/balancer/types.js';
import { haproxyClusterSchema, haproxyConfigSchema, type HaproxyClusterConfig, type HaproxyConfig } from '../../src/balancer/haproxy/schema.js';

/** Shared by the render unit tests and the integration test that runs `haproxy -c` on every golden file. */

export function node(host: string, ip: string, port: number, peerName?: string): ClusterNode {
  return { host, ip, port, metadata: {}, peer: peerName ? { name: peerName, ip, port: 1024 } : null };
}

export function balancer(extra: Record<string, unknown> = {}): HaproxyConfig {
  return haproxyConfigSchema.parse({
    config_file: '/run/lighthouse/haproxy.cfg',
    socket_file: '/run/lighthouse/haproxy.sock',
    pid_file: '/run/lighthouse/haproxy.pid',
    ...extra,
  });
}

export function cluster(name: string, section: Record<string, unknown>, members: ClusterNode[], metaCluster?: string): BalancedCluster<HaproxyClusterConfig> {
  return { name, metaCluster, config: haproxyClusterSchema.parse(section), members };
}

export interface RenderCase {
  name: string;
  config: HaproxyConfig;
  clusters: BalancedCluster<HaproxyClusterConfig>[];
}

export const RENDER_CASES: RenderCase[] = [
  {
    name: 'plain',
    config: balancer(),
    clusters: [
      // Members deliberately out of order: the output must be sorted.
      cluster('webapp', { port: 8000 }, [node('web2.example.com', '10.0.0.2', 31000), node('web1.example.com', '10.0.0.1', 31000)]),
    ],
  },
  {
    name: 'http-cookies',
    config: balancer({ defaults: ['mode http', 'timeout connect 2s', 'timeout client 30s', 'timeout server 30s'] }),
    clusters: [
      cluster(
        'shop',
        { port: 8100, backend: ['balance roundrobin', 'cookie SERVERID insert indirect nocache', 'option httpchk GET /health'], server_options: 'check inter 2s' },
        [node('shop1.example.com', '10.0.1.1', 8080), node('shop2.example.com', '10.0.1.2', 8080)],
      ),
    ],
  },
  {
    name: 'meta-cluster',
    config: balancer({ defaults: ['mode http'], meta_clusters: { api: { port: 9000, frontend: ['option forwardfor'] } } }),
    clusters: [
      cluster('widgets', { acl: 'path_beg /api/widgets', server_options: ['slowstart 30s'] }, [node('w1.example.com', '10.0.2.1', 7000)], 'api'),
      cluster('gadgets', { acl: 'path_beg /api/gadgets' }, [node('g1.example.com', '10.0.3.1', 7000), node('g2.example.com', '10.0.3.2', 7000)], 'api'),
    ],
  },
  {
    name: 'proxies',
    config: balancer({
      proxies: {
        db: { port: 5433, upstreams: [{ host: 'localhost', port: 5432, max_conn: 50 }, { host: '10.0.9.2', port: 5432 }], options: ['mode tcp', 'balance first'] },
        legacy: { port: 8081, bind_address: '127.0.0.1', upstreams: [{ host: 'localhost', port: 8080 }] },
      },
    }),
    clusters: [],
  },
  {
    name: 'stats',
    config: balancer({ stats: { port: 8404, uri: '/haproxy', timeouts: { connect: 5000, client: 30000, server: 30000 }, auth: 'admin:s3cret' } }),
    clusters: [cluster('webapp', { port: 8000 }, [node('web1.example.com', '10.0.0.1', 31000)])],
  },
  {
    name: 'peers',
    config: balancer(),
    clusters: [
      cluster(
        'sessions',
        { port: 8200, backend: ['stick-table type ip size 100k expire 30m peers sessions', 'stick on src'] },
        [node('s1.example.com', '10.0.4.1', 6000, 's1'), node('s2.example.com', '10.0.4.2', 6000, 's2'), node('s2.example.com', '10.0.4.2', 6001, 's2')],
      ),
      // Has peer data but nothing uses a peers section for it: no section, so its membership stays runtime-only.
      cluster('plain', { port: 8201 }, [node('p1.example.com', '10.0.5.1', 6000, 'p1')]),
    ],
  },
  {
    // A peered cluster with no member yet (first start, or every instance down): its peers section has no
    // peer, and HAProxy refuses a config with an empty peers section that a stick-table uses.
    name: 'peers-empty',
    config: balancer(),
    clusters: [cluster('sessions', { port: 8200, backend: ['stick-table type ip size 100k expire 30m peers sessions', 'stick on src'] }, [])],
  },
  {
    name: 'bind-address',
    config: balancer({ bind_address: '127.0.0.1', global: ['maxconn 20000', 'log stdout format raw local0'], defaults: ['log global', 'option dontlognull', 'retries 5'], stats: { port: 8404, bind_address: '0.0.0.0' } }),
    clusters: [cluster('webapp', { port: 8000, frontend: ['maxconn 1000'], backend: ['balance leastconn'] }, [node('web1.example.com', '10.0.0.1', 31000)])],
  },
  {
    name: 'zones-weights',
    config: balancer({ zone: 'zone-a', defaults: ['mode http'] }),
    clusters: [
      cluster('web', { port: 8300, zone_aware: { min_members: 1 }, weights: { rules: [{ match: { size: 'large' }, weight: 4 }] }, slow_start: '30s', server_options: 'check inter 2s' }, [
        { ...node('a1.example.com', '10.0.5.1', 8080), metadata: { zone: 'zone-a', weight: 3 } },
        { ...node('a2.example.com', '10.0.5.2', 8080), metadata: { zone: 'zone-a', size: 'large' } },
        { ...node('b1.example.com', '10.0.6.1', 8080), metadata: { zone: 'zone-b' } },
      ]),
    ],
  },
];
