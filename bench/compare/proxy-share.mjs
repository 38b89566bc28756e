#!/usr/bin/env node
/**
 * How much of a core each proxy gets, and what it spends per transaction: sysbench
 * oltp_point_select (16 threads) in front of one mariadbd, through HAProxy (its defaults, and
 * `nbthread 1`) and through the connector's forwarding (src/connector/handle-bridge.ts, without the
 * router around it) in one process and in two node:cluster processes. Rounds interleaved; CPU time
 * and context switches summed over every process of a proxy, from /proc (Linux). Needs
 * `npm run build`, mariadb-server, sysbench and haproxy. docs/connector.md ("What was tried", 6)
 * has the figures and what they say.
 *
 *   node bench/compare/proxy-share.mjs [ROUNDS=6] [SECONDS=8]
 *
 * With `--bridge LISTEN_PORT BACKEND_HOST BACKEND_PORT PROCESSES` it is that bare forwarding proxy
 * (started by the comparison; prints "ready" once it listens).
 */
import cluster from 'node:cluster';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpuTicks, freePort, startHaproxy, startNodeProxy } from '../items/connector.js';
import { median } from '../lib/stats.js';
import { importTestHelper } from '../lib/ts-helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const THREADS = 16;
const TABLE_SIZE = 10_000;

/**
 * The bare proxy: accepts, connects to the backend, and hands both sockets to a HandleBridge.
 * @param {number} listen
 * @param {string} host
 * @param {number} port
 * @param {number} processes
 */
async function bridgeProxy(listen, host, port, processes) {
  if (processes > 1 && cluster.isPrimary) {
    let listening = 0;
    for (let i = 0; i < processes; i++) cluster.fork().on('listening', () => ++listening === processes && console.log('ready'));
    return;
  }
  const url = pathToFileURL(join(ROOT, 'dist/src/connector/handle-bridge.js')).href;
  const { HandleBridge } = /** @type {typeof import('../../src/connector/handle-bridge.js')} */ (await import(url));
  net.createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
    const backend = net.connect({ host, port, noDelay: true }, () => {
      // Bridged within the connect callback: nothing has been read from either socket yet.
      new HandleBridge({ socket: client, early: [] }, { socket: backend, early: [] }, () => undefined);
    });
    backend.on('error', () => client.destroy());
    client.on('error', () => backend.destroy());
  }).listen(listen, '127.0.0.1', () => cluster.isWorker || console.log('ready'));
}

/** @typedef {{ ticks: number; user: number; system: number; voluntary: number; involuntary: number }} Usage */

/**
 * A process and all its descendants.
 * @param {number} pid
 * @returns {number[]}
 */
function processTree(pid) {
  const pids = [pid];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    for (const child of children ? children.split(/\s+/) : []) pids.push(...processTree(Number(child)));
  }
  return pids;
}

/**
 * CPU time (clock ticks) and context switches of a process tree so far.
 * @param {number} root
 * @returns {Usage}
 */
function usage(root) {
  const total = { ticks: 0, user: 0, system: 0, voluntary: 0, involuntary: 0 };
  for (const pid of processTree(root)) {
    const { user, system } = cpuTicks(pid);
    total.user += user;
    total.system += system;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      total.voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      total.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    }
  }
  total.ticks = total.user + total.system;
  return total;
}

/**
 * @param {number} processes
 * @param {{ host: string; port: number }} backend
 */
async function startBridge(processes, backend) {
  const port = await freePort();
  return startNodeProxy('the bridge proxy', port, [import.meta.filename, '--bridge', String(port), backend.host, String(backend.port), String(processes)]);
}

async function compare() {
  const rounds = Number(process.argv[2] ?? 6);
  const seconds = Number(process.argv[3] ?? 8);
  const helpers = /** @type {typeof import('../../test/helpers/mariadb.js')} */ (await importTestHelper('mariadb'));
  const conn = /** @type {typeof import('../../test/helpers/connector.js')} */ (await importTestHelper('connector'));
  const missing = helpers.mariadbMissing() ?? conn.sysbenchMissing() ?? conn.haproxyMissing();
  if (missing) throw new Error(missing);
  const db = await helpers.startMariaDbCluster({ count: 1, replicate: false });
  const dir = mkdtempSync(join(tmpdir(), 'proxy-share-'));
  /** @type {Array<{ stop: () => Promise<void> }>} */
  const proxies = [];
  try {
    const server = db.server('db1');
    const backend = { host: server.host, port: server.port };
    await conn.sysbenchPrepare('oltp_point_select', { socket: server.socket, user: 'root', db: 'app' }, { tables: 4, tableSize: TABLE_SIZE });
    /** @type {Array<[string, { port: number; pid: number | undefined; stop: () => Promise<void> }]>} */
    const targets = [
      ['HAProxy, 2 threads', await startHaproxy(dir, backend)],
      ['HAProxy, nbthread 1', await startHaproxy(dir, backend, ['  nbthread 1'])],
      ['bridge, 1 process', await startBridge(1, backend)],
      ['bridge, 2 processes', await startBridge(2, backend)],
    ];
    proxies.push(...targets.map(([, t]) => t));
    /** @type {Record<string, { tps: number[]; share: number[]; perTx: number[]; user: number[]; system: number[]; voluntary: number[] }>} */
    const results = Object.fromEntries(targets.map(([name]) => [name, { tps: [], share: [], perTx: [], user: [], system: [], voluntary: [] }]));
    for (let r = 0; r < rounds; r++) {
      for (const [name, proxy] of targets) {
        const pid = /** @type {number} */ (proxy.pid);
        const before = usage(pid);
        const out = await conn.sysbenchRun('oltp_point_select', { host: '127.0.0.1', port: proxy.port, user: helpers.APP_USER, password: helpers.APP_PASSWORD, db: 'app' }, { threads: THREADS, seconds, tables: 4, tableSize: TABLE_SIZE }).done;
        if (out.code !== 0) throw new Error(`sysbench via ${name} exited ${out.code}: ${(out.stderr || out.stdout).trim()}`);
        const after = usage(pid);
        const transactions = out.tps * seconds;
        const perTransaction = (/** @type {number} */ ticks) => (ticks * 10_000) / transactions;
        const row = /** @type {(typeof results)[string]} */ (results[name]);
        row.tps.push(out.tps);
        row.share.push((after.ticks - before.ticks) / seconds);
        row.perTx.push(perTransaction(after.ticks - before.ticks));
        row.user.push(perTransaction(after.user - before.user));
        row.system.push(perTransaction(after.system - before.system));
        row.voluntary.push((after.voluntary - before.voluntary) / transactions);
        console.log(`round ${r + 1} ${name}: ${out.tps.toFixed(0)} tps, ${((after.ticks - before.ticks) / seconds).toFixed(0)} % of a core, ${perTransaction(after.ticks - before.ticks).toFixed(1)} µs per transaction`);
      }
    }
    const base = /** @type {(typeof results)[string]} */ (results['HAProxy, 2 threads']);
    const range = (/** @type {number[]} */ xs, digits = 1) => `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;
    console.log(`\n${'proxy'.padEnd(22)} tps (median)  vs HAProxy  rounds      % of a core  µs/transaction  user        system      voluntary switches/tx`);
    for (const [name, s] of Object.entries(results)) {
      const perRound = s.tps.map((x, i) => x / /** @type {number} */ (base.tps[i]));
      console.log(`${name.padEnd(22)} ${median(s.tps).toFixed(0).padStart(12)}  ${(median(s.tps) / median(base.tps)).toFixed(2).padStart(9)}x  ${range(perRound, 2).padEnd(10)}  ${range(s.share, 0).padEnd(11)}  ${range(s.perTx).padEnd(14)}  ${range(s.user).padEnd(10)}  ${range(s.system).padEnd(10)}  ${range(s.voluntary, 2)}`);
    }
  } finally {
    for (const p of proxies) await p.stop().catch(() => undefined);
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--bridge') await bridgeProxy(Number(process.argv[3]), String(process.argv[4]), Number(process.argv[5]), Number(process.argv[6] ?? 1));
else await compare();
