// `npm run fleet`: the fleet of test/fleet as a demo. Builds 3 ZooKeeper hosts
// and 4 app hosts in network namespaces on this machine, prints the hosts and
// the traffic per host, cuts one app host off, heals it, and shows how the
// others converge. Bounded (--duration, default 50 s); Ctrl-C or SIGTERM stops
// early. Everything it made (processes by PID, namespaces, veth ends, bridge,
// temp dir) is removed at the end; --keep-files keeps configs and logs; --etcd
// runs the ensemble on etcd instead of ZooKeeper.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Fleet, WEB_FRONTEND_PORT, type AppHost } from '../test/fleet/fleet.js';
import { namespacesUnavailable } from '../test/fleet/netns.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '50' }, 'keep-files': { type: 'boolean', default: false }, etcd: { type: 'boolean', default: false } } });
const durationMs = Math.max(30, Math.min(600, Number(values.duration) || 50)) * 1000;

const unavailable = namespacesUnavailable();
if (unavailable) {
  console.error(`npm run fleet: ${unavailable}`);
  process.exit(1);
}

const t0 = performance.now();
const stamp = (): string => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s]`;
const say = (line: string): void => console.log(`${stamp()} ${line}`);

let fleet: Fleet | undefined;
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  say('stopping: every process by PID, then namespaces, veth ends, bridge' + (values['keep-files'] ? '' : ' and temp dir'));
  await fleet?.stop({ keepFiles: values['keep-files'] });
  if (values['keep-files'] && fleet) say(`configs and logs kept in ${fleet.dir}`);
  say('done');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(130));
process.on('SIGTERM', () => void shutdown(143));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One line per host: requests and failures since the last line, and which instances answered. */
function traffic(since: number): void {
  const now = Date.now();
  for (const app of fleet!.apps) {
    const sent = fleet!.sentBetween(app, since, now);
    const failed = fleet!.failuresBetween([app], since, now).length;
    const reached = Object.entries(fleet!.reachedBetween(app, since, now))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, count]) => `${id} ${count}`)
      .join(', ');
    say(`  ${app.name}: ${String(sent).padStart(4)} requests, ${failed} failed  -> ${reached || 'nothing'}`);
  }
}

async function routedSummary(app: AppHost): Promise<string> {
  const servers = await fleet!.routed(app, 'web').catch((error: Error) => [`(${error.message})`]);
  return servers.map((server) => server.split('@')[0]!.split('.')[0]).join(' ');
}

try {
  say('building the fleet (needs root: network namespaces, a bridge, veth pairs) ...');
  fleet = await Fleet.start({ log: say, discovery: values.etcd ? 'etcd' : 'zookeeper' });
  console.log('');
  console.log('host    address          namespace        runs (PIDs)');
  for (const member of fleet.ensemble) console.log(`${member.name.padEnd(7)} ${member.ip.padEnd(16)} ${member.ns.padEnd(16)} ${fleet.options.discovery} ${member.process?.pid}`);
  for (const app of fleet.apps) {
    console.log(`${app.name.padEnd(7)} ${app.ip.padEnd(16)} ${app.ns.padEnd(16)} web ${app.web?.pid}, reporter ${app.reporter?.pid}, writer ${app.writer?.pid} (+ HAProxy), load ${app.load?.pid}`);
  }
  console.log(`\nEach app host's load loop sends to its own HAProxy (127.0.0.1:${WEB_FRONTEND_PORT} inside the host); config dirs: ${fleet.dir}/app-N/etc`);
  console.log(`Try: lighthouse status ${fleet.apps[0]!.etc}\n`);

  const deadline = t0 + durationMs;
  let since = Date.now();
  const tick = async (ms: number): Promise<void> => {
    await sleep(ms);
    say('traffic per host since the last report:');
    traffic(since);
    since = Date.now();
  };

  await tick(4000);
  const cut = fleet.apps.at(-1)!;
  const others = fleet.apps.filter((app) => app !== cut);
  say(`cutting ${cut.name} off (its link goes down; session timeout ${fleet.options.sessionTimeoutMs / 1000} s)`);
  const cutAt = performance.now();
  await fleet.network.cut(cut);
  const removed = fleet.waitConverged(others, others, 60_000).then(() => performance.now() - cutAt);
  await tick(2000);
  const removedMs = await removed;
  say(`the other hosts removed ${cut.name} ${(removedMs / 1000).toFixed(1)} s after the cut`);
  say(`  ${others[0]!.name} routes to: ${await routedSummary(others[0]!)}`);
  say(`  ${cut.name} (cut off) keeps its last members: ${await routedSummary(cut)}`);
  await tick(3000);
  say(`healing ${cut.name}`);
  const healAt = performance.now();
  await fleet.network.heal(cut);
  await fleet.waitConverged(fleet.apps, fleet.apps, 60_000);
  say(`converged ${((performance.now() - healAt) / 1000).toFixed(1)} s after the link returned: every host routes to all ${fleet.apps.length} instances again`);
  for (const app of fleet.apps) say(`  ${app.name} routes to: ${await routedSummary(app)}`);
  while (performance.now() + 4000 < deadline && !stopping) await tick(4000);
  await shutdown(0);
} catch (error) {
  console.error(`npm run fleet failed: ${(error as Error).stack ?? String(error)}`);
  await shutdown(1);
}
