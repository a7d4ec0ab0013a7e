// @ts-check
import { spawn } from 'node:child_process';

/**
 * Types come from Lighthouse in JSDoc only: at run time this package needs
 * nothing but Node, and Lighthouse hands it everything else through `api`.
 *
 * @typedef {import('lighthouse-sd/dist/plugins/api.js').LighthousePlugin} LighthousePlugin
 * @typedef {import('lighthouse-sd/dist/plugins/api.js').PluginApi} PluginApi
 * @typedef {import('lighthouse-sd/dist/plugins/api.js').CheckTarget} CheckTarget
 * @typedef {import('lighthouse-sd/dist/plugins/api.js').CheckOutcome} CheckOutcome
 * @typedef {{ command: string[], cwd?: string }} CommandCheckConfig
 */

/** Enough output for the first line of a message, not an unbounded buffer per run. */
const MAX_OUTPUT_BYTES = 4096;
/** After the process exits, how long to wait for the rest of its output (a child it left behind may hold the pipes open). */
const OUTPUT_GRACE_MS = 100;

/**
 * Runs `argv` without a shell: arguments reach the program exactly as
 * written in the service file, so nothing in them is ever interpreted.
 * Resolves (never rejects) with pass on exit code 0.
 *
 * The child gets its own process group and the whole group is killed when
 * `signal` aborts (the check's timeout, a config change, shutdown): a script
 * that started children of its own cannot outlive the check.
 *
 * @param {string[]} argv
 * @param {{ cwd?: string, env: NodeJS.ProcessEnv, signal: AbortSignal }} options
 * @returns {Promise<CheckOutcome>}
 */
export function runCommand(argv, { cwd, env, signal }) {
  const where = `command ${JSON.stringify(argv)}`;
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve({ passed: false, detail: `${where}: not started (aborted)` });
      return;
    }
    const [program, ...args] = argv;
    /** @type {import('node:child_process').ChildProcess} */
    let child;
    try {
      child = spawn(/** @type {string} */ (program), args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
    } catch (error) {
      resolve({ passed: false, detail: `${where}: cannot run: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    /** @type {Buffer[]} */
    const stdout = [];
    /** @type {Buffer[]} */
    const stderr = [];
    const collect = (/** @type {Buffer[]} */ into) => (/** @type {Buffer} */ chunk) => {
      if (into.reduce((sum, part) => sum + part.length, 0) < MAX_OUTPUT_BYTES) into.push(chunk);
    };
    child.stdout?.on('data', collect(stdout));
    child.stderr?.on('data', collect(stderr));

    let settled = false;
    /** @type {NodeJS.Timeout | undefined} */
    let grace;
    const finish = (/** @type {CheckOutcome} */ outcome) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (grace) clearTimeout(grace);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(outcome);
    };
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      killGroup();
      finish({ passed: false, detail: `${where}: killed (${reason(signal)})` });
    };
    signal.addEventListener('abort', onAbort, { once: true });

    child.once('error', (error) => {
      finish({ passed: false, detail: `${where}: cannot run: ${/** @type {NodeJS.ErrnoException} */ (error).code ?? error.message}` });
    });
    child.once('exit', (code, exitSignal) => {
      const report = () => {
        const line = firstLine(stderr) ?? firstLine(stdout);
        const status = code === null ? `killed by ${exitSignal}` : `exit ${code}`;
        finish({ passed: code === 0, detail: `${where}: ${status}${line ? `: ${line}` : ''}` });
      };
      // Output still in the pipes arrives after 'exit'; 'close' says it has all arrived.
      if (child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false) report();
      else {
        child.once('close', report);
        grace = setTimeout(report, OUTPUT_GRACE_MS);
      }
    });
  });
}

/** @param {AbortSignal} signal */
function reason(signal) {
  const why = signal.reason;
  return why instanceof Error ? why.message : why === undefined ? 'aborted' : String(why);
}

/** @param {Buffer[]} chunks */
function firstLine(chunks) {
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/).map((text) => text.trim()).find((text) => text.length > 0);
  if (line === undefined) return undefined;
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** @type {LighthousePlugin} */
const plugin = {
  apiVersion: 1,
  name: 'lighthouse-check-command',
  setup(api) {
    const { z } = api;
    const schema = z.strictObject({
      command: z.array(z.string().min(1)).min(1, 'needs the program and its arguments, e.g. [test, -f, /srv/app/healthy]'),
      cwd: z.string().min(1).optional(),
    });
    api.registerCheck({
      kind: 'command',
      schema,
      create(config, target) {
        // The target reaches the program as environment, never spliced into its arguments.
        const env = { ...process.env, LIGHTHOUSE_CHECK_HOST: target.host, LIGHTHOUSE_CHECK_PORT: String(target.port) };
        return {
          run: (signal) => runCommand(config.command, { cwd: config.cwd, env, signal }),
        };
      },
    });
  },
};

export default plugin;
