import type { PluginRegistries } from './registry.js';
import { zookeeperDiscovery } from '../discovery/zookeeper/plugin.js';
import { haproxyBalancer } from '../balancer/haproxy/plugin.js';
import { httpCheck } from '../checks/http.js';
import { tcpCheck } from '../checks/tcp.js';
import { redisCheck } from '../checks/redis.js';

/** Built-in plugins register exactly the way a third-party package does. */
export function registerBuiltins(registries: PluginRegistries): void {
  registries.discovery.register(zookeeperDiscovery);
  registries.balancers.register(haproxyBalancer);
  registries.checks.register(httpCheck);
  registries.checks.register(tcpCheck);
  registries.checks.register(redisCheck);
}
