import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectClient, ZookeeperCluster } from '../support/zookeeper.js';
import type { ZkClient } from '../../src/discovery/zookeeper/zk-client.js';
import { httpGet, serve } from '../support/http-backends.js';
import { freePort } from '../support/ports.js';
import { startRedis, redisUnavailable, type RedisServer } from '../support/redis.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';
import { killHaproxy } from '../support/haproxy-process.js';
import { startDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { BUILT_CLI, runCli } from '../support/cli.js';

/**
 * The original Lighthouse's own config dirs (test/fixtures/original-lighthouse,
 * verbatim from its repository) as a migrating machine has them: each
 * example machine assembled the way the original's Dockerfiles copy the
 * files, and a dir of the documentation's files. Only what must differ on
 * one test host is rewritten: ZooKeeper's address, HAProxy's file paths,
 * port numbers, and the example proxy's upstream host name. For the run (not
 * for check-config) the docs' `maxconn 40000` is lowered: HAProxy needs
 * about 2 x maxconn file descriptors, more than this host's hard limit.
 */

const FIXTURES = fileURLToPath(new URL('../fixtures/original-lighthouse/', import.meta.url));
const EXAMPLES = join(FIXTURES, 'examples/configs');
const BASE = '/lighthouse/services';

/** Config dir (relative path -> fixture file), per examples/dockerfiles/Dockerfile.<machine>. */
const MACHINES: Record<string, Record<string, string>> = {
  client: {
    'balancers/haproxy.yaml': 'haproxy.yaml',
    'discovery/zookeeper.yaml': 'discovery/zookeeper.yaml',
    'clusters/webapp.yaml': 'clusters/webapp.yaml',
    'clusters/api_widgets.yaml': 'clusters/api_widgets.yaml',
    'clusters/api_sprockets.yaml': 'clusters/api_sprockets.yaml',
  },
  webapp: {
    'balancers/haproxy.yaml': 'haproxy.yaml',
    'discovery/zookeeper.yaml': 'discovery/zookeeper.yaml',
    'clusters/cache.yaml': 'clusters/cache.yaml',
    'services/webapp.yaml': 'services/webapp.yaml',
  },
  multiapp: {
    'balancers/haproxy.yaml': 'haproxy.yaml',
    'discovery/zookeeper.yaml': 'discovery/zookeeper.yaml',
    'clusters/cache.yaml': 'clusters/cache.yaml',
    'services/multiapp.yml': 'services/multiapp.yml',
  },
  widgets: {
    'balancers/haproxy.yaml': 'haproxy.yaml',
    'discovery/zookeeper.yaml': 'discovery/zookeeper.yaml',
    'clusters/cache.yaml': 'clusters/cache.yaml',
    'services/api_widgets.yaml': 'services/api_widgets.yaml',
  },
  sprockets: {
    'balancers/haproxy.yaml': 'haproxy.yaml',
    'discovery/zookeeper.yaml': 'discovery/zookeeper.yaml',
    'clusters/cache.yaml': 'clusters/cache.yaml',
    'clusters/proxy.yaml': 'clusters/proxy.yaml',
    'services/api_sprockets.yaml': 'services/api_sprockets.yaml',
  },
  cache: {
    'balancers/haproxy.yaml': 'haproxy.yaml',
    'discovery/zookeeper.yaml': 'discovery/zookeeper.yaml',
    'services/cache.yaml': 'services/cache.yaml',
  },
  proxy: {
    'balancers/haproxy.yaml': 'haproxy-proxies.yaml',
    'discovery/zookeeper.yaml': 'discovery/zookeeper.yaml',
    'services/partner-proxy.yaml': 'services/partner-proxy.yaml',
  },
};
const DOCS_FILES = ['logging.yaml', 'balancers/haproxy.yaml', 'discovery/zookeeper.yaml', 'clusters/webapp.yaml', 'clusters/widgets.yaml', 'clusters/sprockets.yaml', 'services/cache.yaml'];

/** YAML 1.1 metadata, and what the original wrote for it (PyYAML + json.dumps(sort_keys=True), by their documented rules). */
const TAGGED_SERVICE = (port: number): string => `discovery: "zookeeper"
port: ${port}
metadata:
  ratio: 1.0
  big: 1.0e+20
  tiny: 0.00001
  negative_zero: -0.0
  enabled: yes
  off_switch: off
  nothing: ~
  id: 12345678901234567890
  city: Zürich
  nested: {list: [1, 2.5, no], map: {b: 1, a: 2}}
checks:
  interval: 1
  http:
    rise: 1
    fall: 2
    uri: "/health"
`;
const TAGGED_METADATA = String.raw`{"big": 1e+20, "city": "Z\u00fcrich", "enabled": true, "id": 12345678901234567890, "negative_zero": -0.0, "nested": {"list": [1, 2.5, false], "map": {"a": 2, "b": 1}}, "nothing": null, "off_switch": false, "ratio": 1.0, "tiny": 1e-05}`;

describe('the original Lighthouse\'s example and documentation config dirs, unchanged but for ports and paths', () => {
  let zk: ZookeeperCluster;
  let client: ZkClient;
  let dir: TempDir;
  let redis: RedisServer | undefined;
  const daemons: DaemonProcess[] = [];
  const closers: (() => Promise<void>)[] = [];
  /** per machine: original port -> port on this host */
  const ports = new Map<string, Map<number, number>>();
  const portOf = async (machine: string, original: number): Promise<number> => {
    const table = ports.get(machine) ?? new Map<number, number>();
    ports.set(machine, table);
    if (!table.has(original)) table.set(original, await freePort());
    return table.get(original)!;
  };
  const machineDir = (machine: string): string => join(dir.path, machine);

  async function adapt(machine: string, text: string): Promise<string> {
    const run = join(machineDir(machine), 'run');
    let out = text
      .replace(/"zk0[123]:2181"/g, JSON.stringify(zk.hosts[0]))
      .replace('"/etc/haproxy.cfg"', JSON.stringify(join(run, 'haproxy.cfg')))
      .replace('"/var/run/haproxy.sock"', JSON.stringify(join(run, 'haproxy.sock')))
      .replace('"/var/run/haproxy.pid"', JSON.stringify(join(run, 'haproxy.pid')))
      .replace('host: "partnerapi"', 'host: "127.0.0.1"');
    // Every port: `port: N` and the items of a `ports:` list.
    for (const match of [...out.matchAll(/^(\s*(?:- |port: ))(\d+)\s*$/gm)]) {
      const mapped = await portOf(machine, Number(match[2]));
      out = out.replace(match[0], `${match[1]}${mapped}`);
    }
    return out;
  }

  async function assemble(machine: string, files: Record<string, string>): Promise<string> {
    const target = machineDir(machine);
    await mkdir(join(target, 'run'), { recursive: true });
    for (const [relative, source] of Object.entries(files)) {
      await mkdir(join(target, relative, '..'), { recursive: true });
      await writeFile(join(target, relative), await adapt(machine, await readFile(source, 'utf8')));
    }
    return target;
  }

  /** An HTTP service on every address (the reporter advertises the machine's address, as the original did). */
  async function httpService(machine: string, originalPort: number, answer: string): Promise<void> {
    const server = createServer((req, res) => {
      res.setHeader('Connection', 'close');
      res.end(req.url === '/health' || req.url === '/status' ? 'ok' : `${answer} ${req.url ?? ''}`);
    });
    const served = await serve(server, await portOf(machine, originalPort), '0.0.0.0');
    closers.push(served.close);
  }

  before(async () => {
    assert.ok(existsSync(BUILT_CLI), `${BUILT_CLI} is missing: run \`npm run build\` first (npm test does)`);
    zk = await ZookeeperCluster.start();
    client = await connectClient(zk.connectString);
    dir = await tempDir('lighthouse-original-');
    if (!redisUnavailable()) redis = await startRedis();
    // Ports fixed by running services are taken first, so the files get them.
    if (redis) ports.set('docs', new Map([[6379, redis.port]]));
    for (const [machine, files] of Object.entries(MACHINES)) {
      await assemble(machine, Object.fromEntries(Object.entries(files).map(([relative, source]) => [relative, join(EXAMPLES, source)])));
    }
    await assemble('docs', Object.fromEntries(DOCS_FILES.map((relative) => [relative, join(FIXTURES, 'docs', relative)])));
  });

  after(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    for (const machine of ['client', 'docs']) await killHaproxy(join(machineDir(machine), 'run', 'haproxy.pid'));
    await Promise.all(closers.map((close) => close()));
    client?.close();
    await zk?.stop();
    await redis?.stop();
    await dir?.remove();
  });

  test('check-config: every dir passes with warnings only (exit 0), each warning naming file and setting', { timeout: 120_000 }, async () => {
    for (const machine of [...Object.keys(MACHINES), 'docs']) {
      const result = await runCli('check-config', machineDir(machine));
      assert.equal(result.code, 0, `${machine}: ${result.stdout}${result.stderr}`);
      const lines = result.stdout.trim().split('\n');
      assert.match(lines.at(-1)!, /: valid \(.*warning/, machine);
      const warnings = lines.slice(0, -1);
      assert.ok(warnings.every((line) => /^\/\S+\.ya?ml: \S+ \(line \d+\): warning: ignored/.test(line)), `${machine}:\n${warnings.join('\n')}`);
      assert.ok(warnings.some((line) => line.includes('balancers/haproxy.yaml: global.0 (line') && line.includes('"daemon"')), `${machine}: the daemon line is warned about`);
    }
    const docs = await runCli('check-config', machineDir('docs'));
    for (const setting of ['filters.context', 'formatters.syslog', 'handlers.cli', 'handlers.syslog']) assert.match(docs.stdout, new RegExp(`logging\\.yaml: ${setting.replace('.', '\\.')} \\(line \\d+\\): warning: ignored`));
  });

  test('run: the services are registered and routed by the writers, HAProxy started without "daemon"', { timeout: 180_000 }, async () => {
    await httpService('webapp', 8000, 'webapp');
    await httpService('multiapp', 8001, 'multiapp-1');
    await httpService('multiapp', 8002, 'multiapp-2');
    await httpService('widgets', 8000, 'widgets');
    const log = (name: string): string => join(dir.path, `${name}.log`);
    const docsBalancer = join(machineDir('docs'), 'balancers', 'haproxy.yaml');
    await writeFile(docsBalancer, (await readFile(docsBalancer, 'utf8')).replace('"maxconn 40000"', '"maxconn 4000"'));
    daemons.push(startDaemon('writer', machineDir('client'), log('client-writer')));
    daemons.push(startDaemon('writer', machineDir('docs'), log('docs-writer')));
    for (const machine of ['webapp', 'multiapp', 'widgets']) daemons.push(startDaemon('reporter', machineDir(machine), log(`${machine}-reporter`)));
    if (redis) daemons.push(startDaemon('reporter', machineDir('docs'), log('docs-reporter')));

    // Registered: three webapp nodes (two machines' files, one host here), the widgets API, and the docs' redis cache.
    const children = async (cluster: string): Promise<string[]> => (await client.getChildren(`${BASE}/${cluster}`).catch(() => ({ children: [] }))).children;
    await waitFor(async () => (await children('webapp')).length === 3, 'three webapp nodes registered', 60_000, 200);
    await waitFor(async () => (await children('api_widgets')).length === 1, 'the api_widgets node registered', 60_000, 200);
    if (redis) await waitFor(async () => (await children('cache')).length === 1, 'the docs cache (redis) registered', 60_000, 200);

    // Routed by the examples' client writer: the webapp cluster, and the stuff_api meta-cluster by ACL.
    const seen = new Set<string>();
    const clientWebapp = await portOf('client', 8000);
    await waitFor(async () => {
      const answer = await httpGet(clientWebapp, '/').catch(() => undefined);
      if (answer?.status === 200) seen.add(answer.body.split(' ')[0]!);
      return seen.size === 3;
    }, `all three webapp instances through the client's HAProxy (seen: ${[...seen].join(', ')})`, 60_000, 50);
    const stuffApi = await portOf('client', 8080);
    await waitFor(async () => (await httpGet(stuffApi, '/api/widgets').catch(() => undefined))?.body === 'widgets /api/widgets', 'the widgets API through the stuff_api meta-cluster', 60_000, 100);
    // Routed by the documentation's writer ("daemon" and "user haproxy" in global, a dictConfig logging.yaml).
    const docsWebapp = await portOf('docs', 8000);
    await waitFor(async () => (await httpGet(docsWebapp, '/').catch(() => undefined))?.status === 200, 'webapp through the docs HAProxy', 60_000, 100).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n--- docs writer log (end):\n${(await readFile(log('docs-writer'), 'utf8')).slice(-3000)}`);
    });

    const docsWriterLog = await readFile(log('docs-writer'), 'utf8');
    assert.match(docsWriterLog, /LH_CONFIG_IGNORED/, 'the daemon logs the warnings too');
    assert.match(docsWriterLog, /global\.0 \(line \d+\): warning: ignored \\"daemon\\"/);
    assert.match(docsWriterLog, /handlers\.syslog \(line \d+\): warning: ignored/);
    assert.match(await readFile(join(machineDir('docs'), 'run', 'haproxy.cfg'), 'utf8'), /^\s+user haproxy$/m);
  });

  test('metadata with YAML 1.1 floats, booleans, nulls, big ints and non-ASCII is registered with the original\'s exact bytes', { timeout: 120_000 }, async () => {
    const port = await portOf('webapp', 8000); // the webapp service answers /health
    await writeFile(join(machineDir('webapp'), 'services', 'tagged.yaml'), TAGGED_SERVICE(port));
    const folder = `${BASE}/tagged`;
    const name = await waitFor(async () => (await client.getChildren(folder).catch(() => ({ children: [] as string[] }))).children[0], 'the tagged service registered', 60_000, 200);
    const bytes = (await client.getData(`${folder}/${name}`)).data.toString('utf8');
    const outer = JSON.parse(bytes) as { host: string; ip: string; peer: string | null };
    const expected = `{"host": ${JSON.stringify(outer.host)}, "ip": ${JSON.stringify(outer.ip)}, "metadata": ${JSON.stringify(TAGGED_METADATA)}, "peer": ${JSON.stringify(outer.peer)}, "port": ${port}}`;
    assert.equal(bytes, expected);
  });
});
