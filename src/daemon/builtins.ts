import type { PluginRegistries } from '../plugins/registry.js';
import { PLUGIN_API_VERSION, type LighthousePlugin } from '../plugins/types.js';
import { installPluginSync } from './plugin-install.js';
import { silentLogger } from '../lib/logger.js';
import { zookeeperDiscovery } from '../discovery/zookeeper/plugin.js';
import { etcdDiscovery } from '../discovery/etcd/plugin.js';
import { haproxyBalancer } from '../balancer/haproxy/plugin.js';
import { httpCheck } from '../checks/http.js';
import { tcpCheck } from '../checks/tcp.js';
import { redisCheck } from '../checks/redis.js';
import { grpcCheck } from '../checks/grpc.js';

/** The built-in plugins, as one plugin package would declare them. */
export const builtinPlugin: LighthousePlugin = {
  apiVersion: PLUGIN_API_VERSION,
  name: 'lighthouse (built-in)',
  setup(api) {
    api.registerDiscovery(zookeeperDiscovery);
    api.registerDiscovery(etcdDiscovery);
    api.registerBalancer(haproxyBalancer);
    api.registerCheck(httpCheck);
    api.registerCheck(tcpCheck);
    api.registerCheck(redisCheck);
    api.registerCheck(grpcCheck);
  },
};

/** Built-in plugins register exactly the way a third-party package does: through `setup(api)`. */
export function registerBuiltins(registries: PluginRegistries): void {
  installPluginSync(registries, builtinPlugin, 'lighthouse (built-in)', silentLogger());
}
