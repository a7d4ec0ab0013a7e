import { createRegistries, type PluginRegistries } from '../../src/plugins/registry.js';
import { zookeeperDiscovery } from '../../src/discovery/zookeeper/plugin.js';
import { haproxyBalancer } from '../../src/balancer/haproxy/plugin.js';
import { httpCheck } from '../../src/checks/http.js';
import { tcpCheck } from '../../src/checks/tcp.js';
import { redisCheck } from '../../src/checks/redis.js';
import { grpcCheck } from '../../src/checks/grpc.js';

/** The real zookeeper, haproxy and check plugins, registered the way the daemons do. */
export function coreRegistries(): PluginRegistries {
  const registries = createRegistries();
  registries.discovery.register(zookeeperDiscovery);
  registries.balancers.register(haproxyBalancer);
  for (const check of [httpCheck, tcpCheck, redisCheck, grpcCheck]) registries.checks.register(check);
  return registries;
}
