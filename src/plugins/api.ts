/**
 * Everything a plugin package may depend on, in one module: types only, so a
 * plugin needs no runtime dependency on Lighthouse. Plain-JavaScript plugins
 * import them in JSDoc, e.g.
 * `@typedef {import('lighthouse-sd/dist/plugins/api.js').LighthousePlugin} LighthousePlugin`.
 */
export type { LighthousePlugin, PluginApi } from './types.js';
export type { PluginHelper, IgnoredSetting, IgnoreSettings } from '../lib/plugin-helper.js';
export type { DiscoveryPlugin } from '../discovery/plugin-types.js';
export type { BalancerPlugin } from '../balancer/plugin-types.js';
export type { CheckPlugin } from '../checks/plugin-types.js';
export type { Check, CheckOutcome, CheckTarget } from '../checks/types.js';
export type { Discovery, DiscoveryEvents, MemberSet, RejectedNode, ClusterWatch, SessionState } from '../discovery/types.js';
export type { ClusterNode, Metadata, Peer } from '../discovery/node.js';
export type { Balancer, BalancedCluster, BalancerProblem, BalancerServerStat, BalancerStats } from '../balancer/types.js';
