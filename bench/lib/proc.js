/** Child processes for the benchmark: timed runs, peak memory, a manager on a free port. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
/**
 * @typedef {object} RunOptions
 * @property {string} [cwd]
 * @property {NodeJS.ProcessEnv} [env]
 * @property {'pipe' | 'ignore' | 'inherit'} [stdout]
 * @property {boolean} [trackMemory]
 * @property {number} [timeoutMs]
 */

/**
 * @typedef {object} RunResult
 * @property {number} ms
 * @property {number | null} code
 * @property {NodeJS.Signals | null} signal
 * @property {string} stdout
 * @property {string} stderr
 * @property {number | undefined} peakRssBytes
 */

/**
 * A `tungsten-manager` the benchmark started.
 * @typedef {object} BenchManager
 * @property {string} url
 * @property {string} user
 * @property {string} password
 * @property {number | undefined} pid
 * @property {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable>} child
 * @property {() => Promise<void>} stop
 * @property {() => string} stderr
 */

export const BIN = {
  cctrl: resolve(ROOT, 'dist/src/cli/cctrl.js'),
  tpm: resolve(ROOT, 'dist/src/cli/tpm.js'),
  manager: resolve(ROOT, 'dist/src/cli/manager.js'),
};

/** @param {number} ms @returns {Promise<void>} */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Peak resident set (VmHWM) of a live process in bytes, or null once it is gone.
 * @param {number | undefined} pid
 * @returns {number | null}
 */
export function peakRss(pid) {
  if (pid === undefined) return null;
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Runs a command to completion. Resolves with wall time (ms), exit code, output and, when
 * `trackMemory`, the peak RSS seen by polling VmHWM (a high-water mark, so polling loses at most
 * the growth of the last interval).
 * @param {string} command
 * @param {readonly string[]} args
 * @param {RunOptions} [opts]
 * @returns {Promise<RunResult>}
 */
export function run(command, args, opts = {}) {
  return new Promise((resolveRun, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c) => (stderr += c));
    let peak = 0;
    const poll = opts.trackMemory
      ? setInterval(() => {
          const rss = peakRss(child.pid);
          if (rss !== null && rss > peak) peak = rss;
        }, 20)
      : null;
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (poll) clearInterval(poll);
      if (timer) clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Let the pipes drain before resolving so output is whole.
      setImmediate(() => resolveRun({ ms, code, signal, stdout, stderr, peakRssBytes: opts.trackMemory ? peak : undefined }));
    });
  });
}

/**
 * Like run, but a non-zero exit is an error carrying the output.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {RunOptions} [opts]
 */
export async function runOk(command, args, opts = {}) {
  const r = await run(command, args, opts);
  if (r.code !== 0) {
    throw new Error(`${[command, ...args].join(' ')} exited ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  }
  return r;
}

/**
 * SIGTERM, then SIGKILL after 3 s; resolves once the child has exited.
 * @param {import('node:child_process').ChildProcess} child
 */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const forced = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(forced);
}

/**
 * Starts `tungsten-manager` as its own process on a free port; resolves once it prints its URL.
 * `args` are extra flags (--demo, --config FILE, --property=...).
 * @param {readonly string[]} args
 * @param {{ user?: string; password?: string }} [credentials]
 * @returns {Promise<BenchManager>}
 */
export function startManager(args, { user = 'bench', password = 'bench-pw' } = {}) {
  const child = spawn(process.execPath, [BIN.manager, '--port', '0', '--api-user', user, '--api-password', password, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  const stop = () => stopChild(child);
  return new Promise((resolveStart, reject) => {
    const onData = () => {
      const m = /REST API on (https?:\/\/\S+)\/api\/v2/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        const forget = onInterrupt(stop);
        child.once('exit', forget);
        resolveStart({ url: /** @type {string} */ (m[1]), user, password, pid: child.pid, child, stop, stderr: () => err });
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`tungsten-manager exited (${code ?? signal}) before it was ready: ${(out + err).trim()}`)));
  });
}

/**
 * A properties file body for a simulated service with `count` datasources (ds1 the master).
 * @param {number} count
 * @param {readonly string[]} [extra]
 */
export function simulatedServiceProperties(count, extra = []) {
  const names = Array.from({ length: count }, (_, i) => `ds${i + 1}`);
  return [
    'service.name=alpha',
    `service.datasources=${names.join(',')}`,
    `service.connectors=${names.slice(0, Math.min(3, count)).join(',')}`,
    'manager.driver=simulated',
    ...names.flatMap((n, i) => [`datasource.${n}.host=127.0.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`, `datasource.${n}.role=${i === 0 ? 'master' : 'slave'}`]),
    ...extra,
    '',
  ].join('\n');
}

/**
 * HTTP JSON call with Basic auth against a manager started by startManager; the envelope's payload.
 * @param {{ url: string; user: string; password: string }} mgr
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(mgr, method, path, body) {
  const res = await fetch(`${mgr.url}${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${mgr.user}:${mgr.password}`).toString('base64')}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text).payload;
}

/** @type {Set<() => Promise<unknown> | unknown>} */
const cleanups = new Set();
/**
 * Registers what must be stopped if the run is interrupted; returns the function that unregisters it.
 * @param {() => Promise<unknown> | unknown} cleanup
 */
export function onInterrupt(cleanup) {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Ctrl-C: stop every manager, fleet and server still running, then exit 130. */
export function installInterruptHandler() {
  /** @param {NodeJS.Signals} signal */
  const stop = async (signal) => {
    process.stderr.write(`\nbench: ${signal}, stopping what is still running\n`);
    await Promise.allSettled([...cleanups].map((c) => c()));
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
