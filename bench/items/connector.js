/**
 * Item 8: tungsten-connector with sysbench as the application, against HAProxy and direct.
 *
 * - sysbench oltp_point_select and oltp_read_write, 16 threads, on the same master (real mariadbd,
 *   test/helpers/mariadb.ts): through the connector (following a real tungsten-manager on the mysql
 *   driver), through HAProxy in TCP mode (Debian haproxy, its defaults: one thread per core, config
 *   in a temp dir, run in the foreground) and direct. Runs interleaved (connector, HAProxy, bare
 *   pipe, the connector forwarding by streams, direct, again), each round starting one target
 *   further on, medians compared. The CPU time each proxy process spends per transaction (/proc,
 *   user + system) is reported beside it: steadier than throughput on a shared machine.
 *   Targets: connector >= 1.0x HAProxy's throughput, p99 no worse than HAProxy's; the ratio to
 *   direct is reported (it is the limit), to a bare Node pipe (what Node itself costs), and to a
 *   second connector run with `--forwarding streams` (what forwarding between handles saves).
 * - Write unavailability across a switch, as an application that opens a new connection for every
 *   write sees it through the connector: the longest time between two acknowledged writes around
 *   each of 3 switches, median (target < 1 s); and how many new connections failed (target 0).
 *
 * The MariaDB harness comes from test/helpers (as bench/items/switch.js has it).
 *
 * A full run: one uncounted warm-up run of each target (5 s), then 5 rounds of 10 s.
 * `--quick`: one short round of each sysbench run (5 s), no warm-up; the 3 switches as in a full run.
 *
 * `BENCH_CONNECTOR_PROFILE=DIR`: the connector runs under `node --cpu-prof` and writes its profile
 * to DIR when it stops; the item logs the functions it spent its time in (bench/lib/cpu-profile.js).
 */
import { importTestHelper } from '../lib/ts-helpers.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { api, onInterrupt, sleep, startManager, stopChild } from '../lib/proc.js';
import { median, ratio } from '../lib/stats.js';

/** @typedef {typeof import('../../test/helpers/mariadb.js')} MariaDbHelpers */
/** @typedef {typeof import('../../test/helpers/connector.js')} ConnectorHelpers */
/** @typedef {import('../lib/proc.js').BenchManager} BenchManager */
/** @typedef {{ host: string; port: number }} Backend */
/** @typedef {import('../lib/report.js').BenchRow} BenchRow */

const ITEM = 8;
const THREADS = 16;
const TESTS = ['oltp_point_select', 'oltp_read_write'];
const SWITCHES = 3;

/** @returns {Promise<number>} */
export async function freePort(host = '127.0.0.1') {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, host, () => r(undefined)));
  const { port } = /** @type {net.AddressInfo} */ (s.address());
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * User and system CPU time a process has used so far (all its threads), in clock ticks (USER_HZ,
 * 100 on Linux), from /proc.
 * @param {number} pid
 */
export function cpuTicks(pid) {
  // Fields 14 and 15 (utime, stime) after the command name.
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

/**
 * CPU time a process has used so far (user and system), in microseconds; null where /proc has none.
 * @param {number | undefined} pid
 * @returns {number | null}
 */
function cpuMicros(pid) {
  if (!pid) return null;
  try {
    const { user, system } = cpuTicks(pid);
    return (user + system) * 10_000;
  } catch {
    return null;
  }
}

/**
 * HAProxy in TCP mode in front of one server, in the foreground; resolves once it accepts connections.
 * @param {string} dir
 * @param {Backend} backend
 * @param {string[]} [globals] more lines of its `global` section (its defaults otherwise)
 */
export async function startHaproxy(dir, backend, globals = []) {
  const port = await freePort();
  const config = join(dir, `haproxy-${port}.cfg`);
  writeFileSync(config, [
    'global',
    '  maxconn 4096',
    ...globals,
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    'frontend mysql',
    `  bind 127.0.0.1:${port}`,
    '  default_backend master',
    'backend master',
    `  server db1 ${backend.host}:${backend.port}`,
    '',
  ].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (out += c));
  const stop = () => stopChild(child);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${out.trim()}`);
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not listen on ${port} within 10 s: ${out.trim()}`);
    }
    await sleep(50);
  }
  return { port, pid: child.pid, stop };
}

/**
 * The floor of any Node.js proxy: a bare pipe (net.connect + pipe both ways, nothing else), in
 * its own process, as a reference for what the connector adds over Node itself.
 * @param {Backend} backend
 */
async function startBarePipe(backend) {
  const port = await freePort();
  const code = `const net=require('node:net');net.createServer({noDelay:true},(c)=>{const b=net.connect({host:${JSON.stringify(backend.host)},port:${backend.port},noDelay:true});c.pipe(b);b.pipe(c);c.on('error',()=>b.destroy());b.on('error',()=>c.destroy());}).listen(${port},'127.0.0.1',()=>console.log('ready'));`;
  return startNodeProxy('the bare pipe', port, ['-e', code]);
}

/**
 * A Node proxy in a process of its own, listening on `port`; resolves once it prints that it is ready.
 * @param {string} what its name in an error
 * @param {number} port
 * @param {string[]} args node's arguments
 */
export async function startNodeProxy(what, port, args) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r, j) => {
    child.stdout.once('data', r);
    child.once('exit', (c) => j(new Error(`${what} exited (${c})`)));
  });
  return { port, pid: child.pid, stop: async () => void child.kill('SIGKILL') };
}

/** What each baseline is called in the rows, and what it tells. */
const BASELINE_NAMES = {
  HAProxy: 'HAProxy, TCP mode',
  direct: 'direct to the master',
  'bare Node pipe': 'a bare Node pipe',
  'connector, streams': 'the connector with --forwarding streams',
};
const BASELINE_NOTES = {
  HAProxy: '',
  direct: 'the limit',
  'bare Node pipe': 'what Node itself costs',
  'connector, streams': 'what forwarding between handles saves',
};

/** Ids of app.writes, never reused across the writers of a run. */
let nextId = 1;

/**
 * A writer opening a new connection for every write: acknowledgements and failed connections, timed.
 * @param {typeof import('mysql2/promise')} mysql
 * @param {number} port
 * @param {string} user
 * @param {string} password
 */
function startWriter(mysql, port, user, password) {
  /** @type {number[]} */
  const acks = [];
  /** @type {Array<{ at: number; started: number; connected: boolean; code: string }>} */
  const failures = [];
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const started = Date.now();
      /** @type {import('mysql2/promise').Connection | null} */
      let conn = null;
      let connected = false;
      try {
        conn = await mysql.createConnection({ host: '127.0.0.1', port, user, password, database: 'app', connectTimeout: 20_000 });
        connected = true;
        await conn.query({ sql: 'INSERT INTO writes (id) VALUES (?)', values: [nextId++], timeout: 10_000 });
        acks.push(Date.now());
      } catch (e) {
        const error = /** @type {{ code?: string; message?: string }} */ (e);
        failures.push({ at: Date.now(), started, connected, code: error.code ?? String(error.message) });
        await sleep(10);
      } finally {
        conn?.destroy();
      }
    }
  })();
  return { acks, failures, stop: async () => ((stopping = true), await loop, { acks, failures }) };
}

/**
 * @param {BenchManager} mgr
 * @param {string} taskId
 * @returns {Promise<import('../../src/manager/model.js').TaskStatus>}
 */
async function waitTask(mgr, taskId) {
  for (;;) {
    const t = await api(mgr, 'GET', `/api/v2/manager/task/${encodeURIComponent(taskId)}`);
    if (t.state !== 'in_progress') return t;
    await sleep(20);
  }
}

/**
 * @param {import('../lib/report.js').ItemOptions} opts
 * @returns {Promise<import('../lib/report.js').ItemOutcome>}
 */
export async function benchConnector({ quick, log }) {
  /** @type {BenchRow[]} */
  const rows = [];
  /** @type {import('../lib/report.js').NotMeasured[]} */
  const notMeasured = [];
  const helpers = /** @type {MariaDbHelpers} */ (await importTestHelper('mariadb'));
  const conn = /** @type {ConnectorHelpers} */ (await importTestHelper('connector'));
  const missing = helpers.mariadbMissing() ?? conn.sysbenchMissing();
  if (missing) return { rows, notMeasured: [{ item: ITEM, name: 'connector', why: missing }] };
  const noHaproxy = conn.haproxyMissing();
  const mysql = (await import('mysql2/promise')).default;
  const seconds = quick ? 5 : 10;
  const rounds = quick ? 1 : 5;
  // Every target runs once uncounted before the rounds of each test, so that no measured run is a
  // proxy's first (a Node proxy's forwarding code not yet optimized, MariaDB fresh from the prepare).
  const warmUpSeconds = quick ? 0 : 5;
  const tableSize = quick ? 10_000 : 50_000;

  log('  connector: starting 3 mariadbd');
  const cluster = await helpers.startMariaDbCluster({ count: 3 });
  /** @type {Array<() => Promise<unknown>>} */
  const cleanups = [() => cluster.stop()];
  const forget = onInterrupt(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  const dir = mkdtempSync(join(tmpdir(), 'bench-connector-'));
  try {
    const db1 = cluster.server('db1');
    await conn.sysbenchPrepare('oltp_read_write', { socket: db1.socket, user: 'root', db: 'app' }, { tables: 4, tableSize });
    await helpers.waitForReplicas(cluster);
    const mgr = await startManager([
      '--state-dir', dir,
      ...[
        'service.name=alpha', 'manager.driver=mysql', ...helpers.datasourceProperties(cluster),
        'mysql.user=tungsten', `mysql.password=${helpers.MANAGER_PASSWORD}`,
        'policy.liveness.samplePeriod=0.5', 'policy.liveness.dbping.timeout=2', 'policy.liveness.hostPing.timeout=1', 'manager.operation.step.timeout=6',
        // sysbench saturates the machine: a master slow to answer a ping is not a dead master here
        // (at the default threshold the manager failed db1 over in the middle of a run).
        'policy.liveness.dbping.fail.threshold=30', 'policy.liveness.hostPing.fail.threshold=30',
      ].map((p) => `--property=${p}`),
    ]);
    cleanups.push(() => mgr.stop());
    // The manager sees the servers before the connector asks it for routes.
    for (let i = 0; i < 200; i++) {
      const s = await api(mgr, 'GET', '/api/v2/manager/status/service/alpha');
      /** @type {import('../../src/manager/model.js').DataSourceStatus[]} */
      const datasources = s.datasourceDetails ?? s.datasources;
      if (datasources.every((d) => d.state === 'ONLINE') && datasources.filter((d) => d.role === 'slave').every((d) => d.replicator?.state === 'ONLINE')) break;
      await sleep(100);
    }
    const profileDir = process.env.BENCH_CONNECTOR_PROFILE ? resolve(process.env.BENCH_CONNECTOR_PROFILE) : null;
    const connector = conn.spawnConnector(['--manager', mgr.url, '--service', 'alpha', '--listen', '127.0.0.1:0', '--switch-grace', '1', '--hold-timeout', '20'], {
      TUNGSTEN_API_USER: mgr.user, TUNGSTEN_API_PASSWORD: mgr.password,
    }, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
    cleanups.push(async () => {
      await connector.stop();
      if (!profileDir) return;
      const { selfTimes } = await import('../lib/cpu-profile.js');
      const newest = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profileDir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (!newest) return void log(`  connector profile: none written in ${profileDir}`);
      log(`  connector profile (${newest}), self time:`);
      for (const { share, name } of selfTimes(JSON.parse(readFileSync(newest, 'utf8')), 12)) log(`    ${(share * 100).toFixed(1).padStart(5)} %  ${name}`);
    });
    const connectorPort = await connector.ready;
    // The same connector forwarding through net.Socket (--forwarding streams), for its own row.
    const streamsConnector = conn.spawnConnector(['--manager', mgr.url, '--service', 'alpha', '--listen', '127.0.0.1:0', '--name', 'connector@streams', '--forwarding', 'streams'], {
      TUNGSTEN_API_USER: mgr.user, TUNGSTEN_API_PASSWORD: mgr.password,
    });
    cleanups.push(() => streamsConnector.stop());
    const streamsPort = await streamsConnector.ready;
    /** @type {{ port: number; pid: number | undefined; stop: () => Promise<void> } | null} */
    let haproxy = null;
    if (noHaproxy) notMeasured.push({ item: ITEM, name: 'connector vs HAProxy', why: noHaproxy });
    else {
      const started = await startHaproxy(dir, { host: db1.host, port: db1.port });
      haproxy = started;
      cleanups.push(() => started.stop());
    }

    const pipe = await startBarePipe({ host: db1.host, port: db1.port });
    cleanups.push(() => pipe.stop());
    /** @typedef {'connector' | 'HAProxy' | 'bare Node pipe' | 'connector, streams' | 'direct'} TargetName */
    /** @type {Array<[TargetName, Backend, number | undefined]>} name, address, the proxy's pid */
    const targets = [
      ['connector', { host: '127.0.0.1', port: connectorPort }, connector.pid],
      ...(haproxy ? /** @type {Array<[TargetName, Backend, number | undefined]>} */ ([['HAProxy', { host: '127.0.0.1', port: haproxy.port }, haproxy.pid]]) : []),
      ['bare Node pipe', { host: '127.0.0.1', port: pipe.port }, pipe.pid],
      ['connector, streams', { host: '127.0.0.1', port: streamsPort }, streamsConnector.pid],
      ['direct', { host: db1.host, port: db1.port }, undefined],
    ];
    /**
     * @param {string} test
     * @param {TargetName} name
     * @param {Backend} t
     * @param {number} time seconds
     */
    const sysbench = async (test, name, t, time) => {
      const res = await conn.sysbenchRun(test, { ...t, user: helpers.APP_USER, password: helpers.APP_PASSWORD, db: 'app' }, { threads: THREADS, seconds: time, tables: 4, tableSize, ignoreErrors: '1213,1205' }).done;
      if (res.code !== 0) throw new Error(`sysbench ${test} via ${name} exited ${res.code}: ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      return res;
    };
    for (const test of TESTS) {
      /** @type {Record<TargetName, number[]>} */
      const tps = { connector: [], HAProxy: [], 'bare Node pipe': [], 'connector, streams': [], direct: [] };
      /** @type {Record<TargetName, number[]>} */
      const p99 = { connector: [], HAProxy: [], 'bare Node pipe': [], 'connector, streams': [], direct: [] };
      /** @type {Record<TargetName, number[]>} the proxy's CPU time (user + system) per transaction, µs */
      const cpu = { connector: [], HAProxy: [], 'bare Node pipe': [], 'connector, streams': [], direct: [] };
      if (warmUpSeconds > 0) {
        for (const [name, t] of targets) {
          const res = await sysbench(test, name, t, warmUpSeconds);
          log(`  ${test} via ${name}: ${res.tps.toFixed(0)} tps (warm-up, not counted)`);
        }
      }
      for (let r = 0; r < rounds; r++) {
        // Each round starts one target further on, so that no target always runs first (after the
        // previous round's direct run) or last.
        for (let k = 0; k < targets.length; k++) {
          const [name, t, pid] = /** @type {[TargetName, Backend, number | undefined]} */ (targets[(r + k) % targets.length]);
          const cpuBefore = cpuMicros(pid);
          const res = await sysbench(test, name, t, seconds);
          const cpuAfter = cpuMicros(pid);
          const perTx = cpuBefore !== null && cpuAfter !== null && res.tps > 0 ? (cpuAfter - cpuBefore) / (res.tps * seconds) : null;
          tps[name].push(res.tps);
          p99[name].push(res.p99Ms);
          if (perTx !== null) cpu[name].push(perTx);
          log(`  ${test} via ${name}: ${res.tps.toFixed(0)} tps, p99 ${res.p99Ms} ms${perTx !== null ? `, ${perTx.toFixed(1)} µs CPU per transaction` : ''} (load average ${(loadavg()[0] ?? 0).toFixed(1)})`);
        }
      }
      const short = test.replace('oltp_', '');
      /**
       * @param {'tps' | 'p99'} what
       * @param {string} unit
       * @param {Exclude<TargetName, 'connector'>} against
       * @param {string} [target]
       * @param {(ratio: number) => boolean} [pass]
       * @returns {BenchRow}
       */
      const row = (what, unit, against, target, pass) => {
        const series = what === 'tps' ? tps : p99;
        const value = median(series.connector);
        const baseline = median(series[against]);
        return {
          item: ITEM, name: `${short} ${what === 'tps' ? 'throughput' : 'p99 latency'}, connector vs ${against}`, unit,
          value, samples: series.connector, baselineName: BASELINE_NAMES[against],
          baseline, baselineSamples: series[against], ratio: ratio(value, baseline),
          ...(target && pass ? { target, pass: pass(ratio(value, baseline)) } : { note: BASELINE_NOTES[against] }),
        };
      };
      if (haproxy) {
        rows.push(row('tps', 'tps', 'HAProxy', '>= 1.0x', (x) => x >= 1.0));
        rows.push(row('p99', 'ms', 'HAProxy', '<= 1.0x', (x) => x <= 1.0));
      }
      rows.push(row('tps', 'tps', 'bare Node pipe'));
      rows.push(row('tps', 'tps', 'connector, streams'));
      rows.push(row('tps', 'tps', 'direct'));
      rows.push(row('p99', 'ms', 'direct'));
      // What each proxy spends per transaction (its own CPU time / transactions): steadier than
      // throughput on a shared machine, and what a faster forwarding path would lower.
      for (const against of /** @type {const} */ (['HAProxy', 'bare Node pipe', 'connector, streams'])) {
        if (cpu.connector.length === 0 || cpu[against].length === 0) continue;
        const value = median(cpu.connector);
        const baseline = median(cpu[against]);
        rows.push({
          item: ITEM, name: `${short} CPU per transaction, connector vs ${against}`, unit: 'µs', value, samples: cpu.connector,
          baselineName: BASELINE_NAMES[against], baseline, baselineSamples: cpu[against], ratio: ratio(value, baseline),
          note: 'the proxy process\'s user + system time / transactions',
        });
      }
    }

    // ---- write unavailability across a switch ----
    log(`  connector: ${SWITCHES} switches under a writer opening a new connection per write`);
    /** @type {number[]} */
    const gaps = [];
    let connectFailures = 0;
    let cutWrites = 0;
    let master = 'db1';
    try {
    for (let i = 0; i < SWITCHES; i++) {
      // The slaves catch up first: after oltp_read_write on a loaded machine they may lag more than
      // a switch waits (it refuses, rightly, and reverts).
      await helpers.waitForReplicas(cluster, master, undefined, 120_000);
      const writer = startWriter(mysql, connectorPort, helpers.APP_USER, helpers.APP_PASSWORD);
      await sleep(1000);
      const before = Date.now();
      const started = await api(mgr, 'POST', '/api/v2/manager/control/service/alpha/switch', {});
      const task = await waitTask(mgr, started.taskId);
      if (task.state !== 'complete') {
        await writer.stop();
        throw new Error(`switch ${i + 1} ended ${task.state}: ${JSON.stringify(task.taskResult)}`);
      }
      master = String(task.taskResult?.['newPrimary'] ?? master);
      const after = Date.now();
      await sleep(1000);
      const { acks, failures } = await writer.stop();
      // The longest stretch without an acknowledged write from just before the switch to just after it.
      const around = acks.filter((t) => t >= before - 1000 && t <= after + 1000);
      let gap = 0;
      for (let k = 1; k < around.length; k++) gap = Math.max(gap, /** @type {number} */ (around[k]) - /** @type {number} */ (around[k - 1]));
      gaps.push(gap);
      connectFailures += failures.filter((f) => !f.connected).length;
      cutWrites += failures.filter((f) => f.connected).length;
      const codes = [...new Set(failures.map((f) => f.code))].join(', ');
      log(`  switch ${i + 1} to ${task.taskResult?.['newPrimary']}: longest gap ${gap} ms, ${failures.length} failed${codes ? ` (${codes})` : ''}`);
      // Let the old master settle as a slave before the next switch chooses among them.
      await sleep(1500);
    }
    } catch (e) {
      // The throughput rows above stand; the switch rows are not measured, and say why.
      notMeasured.push({ item: ITEM, name: 'connector across switches', why: `failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` });
      return { rows, notMeasured };
    }
    rows.push({
      item: ITEM, name: 'write unavailability across a switch, through the connector', unit: 'ms', value: median(gaps), samples: gaps,
      target: '< 1000 ms', pass: median(gaps) < 1000, note: `median of ${SWITCHES} switches; a new connection per write`,
    });
    rows.push({
      item: ITEM, name: 'new connections failing across a switch, through the connector', unit: 'errors', value: connectFailures, samples: [connectFailures],
      target: '0', pass: connectFailures === 0, note: `${SWITCHES} switches; ${cutWrites} write(s) on connections opened before the hold were cut by the fence`,
    });
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    forget();
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, notMeasured };
}
