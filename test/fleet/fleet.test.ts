import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { waitFor } from '../support/wait-for.js';
import { Fleet, WEB_PORT, type AppHost } from './fleet.js';
import { FleetNetwork, namespacesUnavailable } from './netns.js';

/**
 * Issue #14: a fleet on one machine. Three ZooKeeper hosts (one ensemble) and
 * four app hosts, each in its own network namespace with its own address and
 * host name, each running a web instance, reporter, writer, HAProxy and a
 * load loop through its own HAProxy. One fleet is built for all scenarios,
 * which run in order; each asserts outcomes and prints what it measured.
 *
 * Needs root and `ip`; where namespaces cannot be created the suite is
 * skipped with the reason, unless LIGHTHOUSE_FLEET_REQUIRED=1 (set by
 * .ci/run), where it fails instead.
 */

const unavailable = namespacesUnavailable();
const required = process.env.LIGHTHOUSE_FLEET_REQUIRED === '1';
if (unavailable && required) throw new Error(`the fleet tests must run here (LIGHTHOUSE_FLEET_REQUIRED=1) but cannot: ${unavailable}`);

const SESSION_TIMEOUT_MS = 4000;
const measured: string[] = [];

function report(t: TestContext, line: string): void {
  measured.push(`${t.name}: ${line}`);
  t.diagnostic(line);
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

for (const discovery of ['zookeeper', 'etcd'] as const) describe(`fleet on one machine (network namespaces), ${discovery}`, { skip: unavailable ? `fleet tests skipped: ${unavailable}` : false }, () => {
  let fleet: Fleet;
  const progress: string[] = [];
  /** the stick-table key the peers scenario taught app-1, checked again at the end */
  let stickyUser = '';
  let stickyServer = '';

  before(async () => {
    const started = performance.now();
    fleet = await Fleet.start({ discovery, sessionTimeoutMs: SESSION_TIMEOUT_MS, log: (line) => progress.push(line) });
    measured.push(`${discovery} fleet built: ${seconds(performance.now() - started)} (${progress.join('; ')})`);
  });

  after(async () => {
    await fleet?.stop();
    // Printed for docs/fleet-lab.md; never asserted.
    console.log(`\n${discovery} fleet measurements:\n${measured.splice(0).map((line) => `  ${line}`).join('\n')}\n`);
  });

  /** Failed requests of these hosts' loops since `mark`, after the loops reported past now. */
  async function failuresSince(apps: readonly AppHost[], mark: number): Promise<string[]> {
    const now = Date.now();
    await fleet.settleLoad(now);
    return fleet.failuresBetween(apps, mark, now).map((failure) => `${failure.host} ${new Date(failure.at).toISOString()} ${failure.error}`);
  }

  function requestsSince(apps: readonly AppHost[], mark: number): number {
    return apps.reduce((sum, app) => sum + fleet.sentBetween(app, mark, Date.now()), 0);
  }

  it('cross-host routing: every host routes to every host\'s instance at the address its reporter advertised', async (t) => {
    for (const app of fleet.apps) {
      const node = await fleet.registration('web', fleet.memberName(app));
      // The reporter found these by itself (no `advertise`): its host name, its FQDN from /etc/hosts, its own address.
      assert.equal(node.host, fleet.fqdn(app));
      assert.equal(node.ip, app.ip);
      assert.equal(node.port, WEB_PORT);
      assert.deepEqual(JSON.parse(node.peer ?? 'null'), { ip: app.ip, name: app.name, port: 1024 });
    }
    const expected = fleet.expectedRouted(fleet.apps);
    for (const app of fleet.apps) assert.deepEqual(await fleet.routed(app, 'web'), expected, `${app.name} routes web`);
    const mark = Date.now();
    const everyone = fleet.apps.map((app) => app.name).sort();
    await waitFor(
      () => fleet.apps.every((app) => Object.keys(fleet.reachedBetween(app, mark, Date.now())).sort().join(',') === everyone.join(',')),
      'every host\'s load loop to be answered by every host\'s instance',
      30_000,
      100,
    );
    assert.deepEqual(await failuresSince(fleet.apps, mark), []);
    for (const app of fleet.apps) report(t, `${app.name} -> ${JSON.stringify(fleet.reachedBetween(app, mark, Date.now()))}`);
  });

  it('peers: a stick-table entry learned on one host shows on every other, and each HAProxy knows its local peer', async (t) => {
    for (const app of fleet.apps) {
      const peers = await fleet.adminCommand(app, 'show peers');
      assert.match(peers, new RegExp(`id=${app.name}\\(local`), `${app.name}'s HAProxy has its own peer (the peers section was not dropped)`);
    }
    // While `session` had no member yet (at the start) every writer rendered an empty peers section:
    // HAProxy must not have refused a config for it (it refused the whole config, every cluster, before).
    for (const app of fleet.apps) assert.doesNotMatch(await fleet.daemonLog(app, 'writer'), /HAProxy rejects the generated configuration/, `${app.name}'s writer`);
    const [first, ...others] = fleet.apps as [AppHost, ...AppHost[]];
    const user = `user-${Date.now().toString(36)}`;
    const answeredBy = await fleet.sessionRequest(first, user);
    const started = performance.now();
    const learned = (await fleet.adminCommand(first, `show table session key ${user}`)).match(/server_key=(\S+)/)?.[1];
    assert.ok(learned, `${first.name} learned ${user}`);
    stickyUser = user;
    stickyServer = learned;
    for (const app of others) {
      const line = await waitFor(
        async () => (await fleet.adminCommand(app, `show table session key ${user}`)).split('\n').find((text) => text.includes(`key=${user}`)),
        `${app.name}'s session table to hold ${user} (learned on ${first.name})`,
        20_000,
        50,
      );
      assert.match(line, new RegExp(`server_key=${learned.replace(/\./g, '\\.')}`), `${app.name} sticks ${user} to the server ${first.name} picked`);
    }
    report(t, `entry learned on ${first.name} on all ${others.length} other hosts after ${Math.round(performance.now() - started)} ms`);
    // The shared entry is used: the same user through another host reaches the same instance.
    assert.equal(await fleet.sessionRequest(others.at(-1)!, user), answeredBy);
  });

  it('rolling deploy: each host drains, restarts and undrains its instance with 0 failed requests from every host', async (t) => {
    const mark = Date.now();
    for (const app of fleet.apps) {
      const started = performance.now();
      await fleet.operator(app, 'drain');
      // The documented wait (until `drain --wait` exists): every host's HAProxy has the instance out of rotation.
      const member = fleet.memberName(app);
      await waitFor(
        async () => {
          for (const observer of fleet.apps) {
            const server = (await fleet.servers(observer, 'web')).find((candidate) => candidate.name === member);
            if (server && (server.adminState & 0x29) === 0) return false;
          }
          return true;
        },
        `every host's HAProxy to hold ${member} in MAINT/DRAIN or to have removed it`,
        30_000,
        50,
      );
      const drained = performance.now();
      await fleet.stopWeb(app);
      fleet.startWeb(app);
      await fleet.operator(app, 'undrain');
      await fleet.waitConverged(fleet.apps, fleet.apps);
      report(t, `${app.name}: drained everywhere ${seconds(drained - started)}, back everywhere ${seconds(performance.now() - drained)} after`);
    }
    assert.deepEqual(await failuresSince(fleet.apps, mark), []);
    report(t, `${requestsSince(fleet.apps, mark)} requests, 0 failed, slowest ${seconds(fleet.slowestBetween(fleet.apps, mark, Date.now()))}`);
  });

  it('an app host cut off: the others drop it after the session timeout with 0 failed requests; it comes back with nothing lost', async (t) => {
    const cut = fleet.apps.at(-1)!;
    const others = fleet.apps.filter((app) => app !== cut);
    const mark = Date.now();
    const started = performance.now();
    await fleet.network.cut(cut);
    t.after(() => fleet.network.heal(cut));
    await fleet.waitConverged(others, others, 60_000);
    const removed = performance.now() - started;
    // Its own writer cannot reach the ensemble: it keeps the last members it knew (its instance included).
    assert.deepEqual(await fleet.routed(cut, 'web'), fleet.expectedRouted(fleet.apps), `${cut.name} keeps its last members while cut off`);
    assert.deepEqual(await failuresSince(others, mark), [], 'no failed requests on the hosts that can reach each other');
    const healed = performance.now();
    await fleet.network.heal(cut);
    await fleet.waitConverged(fleet.apps, fleet.apps, 60_000);
    const back = performance.now() - healed;
    assert.deepEqual(await failuresSince(others, mark), []);
    const cutFailures = fleet.failuresBetween([cut], mark, Date.now()).length;
    report(t, `${cut.name} removed by the others ${seconds(removed)} after the cut (session timeout ${seconds(SESSION_TIMEOUT_MS)}); routed everywhere again ${seconds(back)} after the link returned`);
    report(t, `${requestsSince(others, mark)} requests on the other hosts, 0 failed, slowest ${seconds(fleet.slowestBetween(others, mark, Date.now()))} (a request sent to the cut-off host waits for \`timeout connect\` before it is redispatched); ${cutFailures} failed on the cut-off host itself (not asserted)`);
  });

  it('a link blip shorter than the session timeout: nothing is deregistered anywhere, 0 failed requests', async (t) => {
    const blipped = fleet.apps[2]!;
    const others = fleet.apps.filter((app) => app !== blipped);
    const owners = await Promise.all(['web', 'session'].map(async (service) => (await fleet.registration(service, fleet.memberName(blipped))).owner));
    const expected = fleet.expectedRouted(fleet.apps).join(',');
    const mark = Date.now();
    let watching = true;
    const changes: string[] = [];
    // Sampled, not proven: every 100 ms every other host must still route to the blipped host's instance.
    const watcher = (async () => {
      while (watching) {
        for (const app of others) {
          const routed = (await fleet.routed(app, 'web').catch(() => [])).join(',');
          if (routed !== expected) changes.push(`${app.name}: [${routed}]`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await fleet.network.cut(blipped);
    t.after(() => fleet.network.heal(blipped));
    await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS / 2));
    await fleet.network.heal(blipped);
    // Watched for a whole session timeout after the link returned: an expiry would show within it.
    await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS + 1000));
    watching = false;
    await watcher;
    assert.deepEqual(changes, [], 'no host dropped the blipped host');
    assert.deepEqual(await Promise.all(['web', 'session'].map(async (service) => (await fleet.registration(service, fleet.memberName(blipped))).owner)), owners, 'same sessions');
    assert.deepEqual(await failuresSince(others, mark), []);
    report(t, `${blipped.name} cut off for ${seconds(SESSION_TIMEOUT_MS / 2)}: ${requestsSince(others, mark)} requests on the other hosts, 0 failed, slowest ${seconds(fleet.slowestBetween(others, mark, Date.now()))}`);
  });

  it('a host drained while cut off stays out after the link returns, and comes back on undrain', async (t) => {
    const host = fleet.apps[1]!;
    const others = fleet.apps.filter((app) => app !== host);
    const mark = Date.now();
    await fleet.network.cut(host);
    t.after(() => fleet.network.heal(host));
    // The operator drains it while it cannot reach the ensemble (the drain is a local file).
    await fleet.operator(host, 'drain');
    t.after(() => fleet.operator(host, 'undrain').catch(() => undefined));
    await fleet.waitConverged(others, others, 60_000);
    await fleet.network.heal(host);
    // Its reporter gets a new session and registers `session` again, but not the drained `web`.
    const member = fleet.memberName(host);
    await waitFor(async () => (await fleet.registrations('session')).includes(member), `${member} to register session again`, 60_000, 100);
    const expected = fleet.expectedRouted(others).join(',');
    // Its own writer, which kept its last members while cut off, catches up too.
    await waitFor(async () => {
      for (const app of fleet.apps) if ((await fleet.routed(app, 'web')).join(',') !== expected) return false;
      return true;
    }, `every host, ${host.name} included, to route web without ${host.name}`, 60_000, 100);
    // Then watched for two check intervals: the drained port must not come back.
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      assert.equal((await fleet.registrations('web')).includes(member), false, `${member} registered web while drained`);
      for (const app of fleet.apps) assert.equal((await fleet.routed(app, 'web')).join(','), expected, `${app.name} routes web`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await fleet.operator(host, 'undrain');
    await fleet.waitConverged(fleet.apps, fleet.apps, 60_000);
    assert.deepEqual(await failuresSince(others, mark), []);
    report(t, `${requestsSince(others, mark)} requests on the other hosts, 0 failed`);
  });

  // Known defect on etcd, kept as a TODO (runs and reports, does not fail the suite): a reporter whose keepalive
  // stream went to the cut-off member can lose its lease (lease_ttl 4 s): the next stream may go to the same
  // unreachable member, and the lease expires before a keepalive reaches a live one. See docs/fleet-lab.md.
  it('the ensemble leader\'s host cut off under load: re-election, 0 failed requests, 0 lost registrations', discovery === 'etcd' ? { todo: 'etcd: a reporter can lose its lease when the leader\'s host is cut off (docs/fleet-lab.md)' } : {}, async (t) => {
    const leader = await fleet.leader();
    assert.ok(leader, 'the ensemble has a leader');
    const owners = new Map<string, string>();
    for (const service of ['web', 'session']) {
      for (const app of fleet.apps) owners.set(`${service}/${fleet.memberName(app)}`, (await fleet.registration(service, fleet.memberName(app))).owner);
    }
    const survivors = fleet.ensemble.filter((zk) => zk !== leader);
    const mark = Date.now();
    const started = performance.now();
    await fleet.network.cut(leader);
    // Healed even when an assertion fails, so the scenarios after this one find a whole ensemble.
    t.after(() => fleet.network.heal(leader));
    const elected = await waitFor(() => fleet.leader(survivors), 'a new leader among the reachable ensemble hosts', 60_000, 50);
    const electedMs = performance.now() - started;
    // Every registration survives, owned by the session that created it (no reporter lost its session).
    for (const [path, owner] of owners) {
      const [service, name] = path.split('/') as [string, string];
      const node = await waitFor(() => fleet.registration(service, name).catch(() => undefined), `${path} to be readable`, 30_000, 100);
      assert.equal(node.owner, owner, `${path} is still owned by its reporter's session`);
    }
    // Watches still fire: a change made now reaches every host.
    const changed = fleet.apps[1]!;
    const changeStarted = performance.now();
    await fleet.operator(changed, 'drain');
    // Undrained even when an assertion fails (a TODO on etcd), so the scenarios after this one find all 4 instances.
    let undrained = false;
    t.after(async () => {
      if (!undrained) await fleet.operator(changed, 'undrain');
    });
    const without = fleet.apps.filter((app) => app !== changed);
    await waitFor(async () => {
      for (const app of fleet.apps) if ((await fleet.routed(app, 'web')).join(',') !== fleet.expectedRouted(without).join(',')) return false;
      return true;
    }, `every host to drop ${changed.name} after the re-election`, 30_000, 50);
    const changeMs = performance.now() - changeStarted;
    await fleet.operator(changed, 'undrain');
    undrained = true;
    await fleet.waitConverged(fleet.apps, fleet.apps);
    assert.deepEqual(await failuresSince(fleet.apps, mark), []);
    await fleet.network.heal(leader);
    const rejoined = await fleet.waitServing(leader);
    report(t, `${leader.name} (leader) cut off; ${elected.name} leader ${seconds(electedMs)} later; a drain made then reached every host in ${seconds(changeMs)}; ${leader.name} back as ${rejoined}`);
    report(t, `${requestsSince(fleet.apps, mark)} requests, 0 failed, slowest ${seconds(fleet.slowestBetween(fleet.apps, mark, Date.now()))}; ${owners.size} registrations kept by the sessions (etcd: leases) that made them`);
  });

  it('the whole ensemble restarted: every writer and reporter recovers without a restart', async (t) => {
    const pids = fleet.apps.map((app) => [app.reporter?.pid, app.writer?.pid]);
    const mark = Date.now();
    const stopped = performance.now();
    await Promise.all(fleet.ensemble.map((zk) => fleet.stopMember(zk)));
    const downMs = performance.now() - stopped;
    const restarted = performance.now();
    for (const zk of fleet.ensemble) fleet.startMember(zk);
    await Promise.all(fleet.ensemble.map((zk) => fleet.waitServing(zk)));
    const servingMs = performance.now() - restarted;
    await fleet.waitConverged(fleet.apps, fleet.apps, 60_000);
    const firstConvergedMs = performance.now() - restarted;
    // Every reporter writes again: a registration someone deleted is re-created by its reporter;
    // every writer watches again: each host removes and re-adds it.
    for (const app of fleet.apps) await fleet.deleteRegistration('session', fleet.memberName(app));
    await fleet.waitConverged(fleet.apps, fleet.apps, 60_000);
    const roundMs = performance.now() - restarted - firstConvergedMs;
    assert.deepEqual(fleet.apps.map((app) => [app.reporter?.pid, app.writer?.pid]), pids, 'no daemon was restarted');
    assert.ok(fleet.apps.every((app) => app.reporter?.alive && app.writer?.alive), 'every daemon still runs');
    assert.deepEqual(await failuresSince(fleet.apps, mark), []);
    report(t, `ensemble stopped in ${seconds(downMs)}, serving again ${seconds(servingMs)} after the start, registrations and routing whole ${seconds(firstConvergedMs)} after the start; a round of 4 deleted registrations re-created and routed everywhere in ${seconds(roundMs)}`);
    report(t, `${requestsSince(fleet.apps, mark)} requests, 0 failed`);
  });

  // Known defect, kept as a failing TODO (it runs and reports, it does not fail the suite): every membership
  // change of a peered cluster reloads every host's HAProxy (a peers section cannot change at run time), and
  // the HAProxy 2.6.12 here starts a reloaded worker with an empty table (seen standalone too: -sf and
  // master-worker, 1 or 2 peers). When all hosts reload together no peer is left to teach the others, and a
  // host whose own instance left the cluster renders a peers section without its local peer, which HAProxy
  // drops. See docs/fleet-lab.md.
  it('the shared stick table outlived every reload the membership changes caused', { todo: 'HAProxy reloads empty the shared stick table (docs/fleet-lab.md)' }, async () => {
    assert.ok(stickyUser, 'the peers scenario ran');
    for (const app of fleet.apps) {
      const line = (await fleet.adminCommand(app, `show table session key ${stickyUser}`)).split('\n').find((text) => text.includes(`key=${stickyUser}`));
      assert.ok(line, `${app.name} still holds ${stickyUser}`);
      assert.match(line, new RegExp(`server_key=${stickyServer.replace(/\./g, '\\.')}`));
    }
  });

  it('cleans up: no process, namespace, veth end or bridge of the run is left', async () => {
    const prefix = fleet.network.prefix;
    const processes = [...fleet.apps.flatMap((app) => [app.web, app.reporter, app.writer, app.load]), ...fleet.ensemble.map((zk) => zk.process)].filter(Boolean);
    await fleet.stop();
    assert.deepEqual(FleetNetwork.leftovers(prefix), []);
    assert.ok(processes.every((proc) => !proc!.alive), 'every process the fleet started has exited');
  });
});
