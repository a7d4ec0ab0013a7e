/**
 * The layers of src/, and which way imports may run (checked by `npm run lint`).
 *
 * Data flows config -> discovery -> writer (cluster state) -> balancer, and
 * reporter -> checks -> discovery. Imports run the other way round: a daemon
 * imports the parts it drives, never the reverse. Bottom to top:
 *
 *   lib        helpers with no knowledge of Lighthouse's domain
 *   discovery  ClusterNode, the Discovery contract, its plugins (zookeeper, etcd)
 *   checks     the Check contract and its plugins (http, tcp, redis)
 *   balancer   the Balancer contract and its plugins (haproxy); reads ClusterNode
 *   plugins    the plugin host API and the typed registries of the three families
 *   config     the config directory: files parsed against the registries' schemas
 *   daemon     assembly: plugin loading, the discovery pool, daemon-wide settings
 *   writer     the writer daemon: cluster state, removal guard, holds
 *   reporter   the reporter daemon: check loops, registrations, drains
 *   demo       the demo (started by the CLI)
 *   cli        commands; the top, may import anything
 *
 * Each layer lists what it may import besides itself; everything else is an
 * upward (or sideways) import and fails lint. A new folder under src/ must be
 * added here before its files may exist.
 */
const LAYERS = {
  lib: [],
  discovery: ['lib'],
  checks: ['lib'],
  balancer: ['lib', 'discovery'],
  plugins: ['lib', 'discovery', 'checks', 'balancer'],
  config: ['lib', 'discovery', 'plugins'],
  daemon: ['lib', 'discovery', 'checks', 'balancer', 'plugins', 'config'],
  writer: ['lib', 'discovery', 'balancer', 'plugins', 'config', 'daemon'],
  reporter: ['lib', 'discovery', 'checks', 'plugins', 'config', 'daemon'],
  demo: ['lib', 'discovery', 'writer'],
  cli: ['lib', 'discovery', 'checks', 'balancer', 'plugins', 'config', 'daemon', 'writer', 'reporter', 'demo'],
};

const layerRules = Object.entries(LAYERS).map(([layer, allowed]) => ({
  name: `layer-${layer}`,
  comment: `src/${layer}/ may import only ${allowed.length ? allowed.map((name) => `src/${name}/`).join(', ') : 'nothing else in src/'} (layer order in .dependency-cruiser.cjs)`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: '^src/', pathNot: `^src/(${[layer, ...allowed].join('|')})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle: one of these modules must not know the other',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unknown-layer',
      comment: 'every folder under src/ is a layer: add it to LAYERS in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${Object.keys(LAYERS).join('|')})/` },
      to: {},
    },
    {
      name: 'backends-stay-apart',
      comment: 'one plugin of a family does not import another (zookeeper and etcd share only src/discovery/*.ts)',
      severity: 'error',
      from: { path: '^src/(discovery|balancer)/([^/]+)/' },
      to: { path: '^src/(discovery|balancer)/[^/]+/', pathNot: '^src/$1/$2/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
