/**
 * Item 6: switch duration, measured by the client from the POST to the task's end, against the
 * cheapest task the same path runs (`cluster heartbeat`): on the simulated demo cluster (its
 * driver sleeps 200 ms per step, as the demo does), on the simulated driver without delays (the
 * manager's own cost) and, when MariaDB is installed, on real MariaDB replication through the mysql
 * driver, there against the same role change typed by hand in SQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, onInterrupt, sleep, startManager } from '../lib/proc.js';
import { importTestHelper } from '../lib/ts-helpers.js';
import { interleaved, median, ratio } from '../lib/stats.js';

/** @typedef {typeof import('../../test/helpers/mariadb.js')} MariaDbHelpers */
/** @typedef {import('../../test/helpers/mariadb.js').MariaDbCluster} MariaDbCluster */

const SERVICE = '/api/v2/manager/control/service/alpha';

/**
 * Milliseconds from the POST to the task's end.
 * @param {import('../lib/proc.js').BenchManager} mgr
 * @param {string} path
 * @param {unknown} [body]
 */
async function timedTask(mgr, path, body) {
  const started = process.hrtime.bigint();
  /** @type {import('../../src/manager/model.js').TaskStatus} */
  let task = await api(mgr, 'POST', `${SERVICE}${path}`, body);
  while (task.state === 'in_progress') {
    await sleep(5);
    task = await api(mgr, 'GET', `/api/v2/manager/task/${encodeURIComponent(task.taskId)}`);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (task.state !== 'complete') throw new Error(`${path} ended ${task.state}: ${JSON.stringify(task.taskResult)}`);
  return ms;
}

/**
 * @param {string} label
 * @param {string[]} args
 * @param {number} runs
 * @returns {Promise<import('../lib/report.js').BenchRow>}
 */
async function simulated(label, args, runs) {
  const mgr = await startManager(args);
  try {
    // Let the first sample settle so the switch has candidates.
    await sleep(300);
    const t = await interleaved(runs, {
      switch: () => timedTask(mgr, '/switch'),
      heartbeat: () => timedTask(mgr, '/heartbeat'),
    });
    return {
      item: 6, name: `switch, ${label}`, unit: 'ms', value: median(t.switch), samples: t.switch,
      baselineName: 'cluster heartbeat task', baseline: median(t.heartbeat), baselineSamples: t.heartbeat, ratio: ratio(median(t.switch), median(t.heartbeat)),
    };
  } finally {
    await mgr.stop();
  }
}

/**
 * The role change by hand: fence the master, wait for the replica to catch up, promote it, repoint the rest.
 * @param {MariaDbCluster} cluster
 * @param {string} from
 * @param {string} to
 * @param {string[]} others
 * @param {string} replicationPassword
 */
async function manualSwitch(cluster, from, to, others, replicationPassword) {
  const started = process.hrtime.bigint();
  await cluster.rootQuery(from, 'SET GLOBAL read_only = 1');
  const [row] = await cluster.rootQuery(from, 'SELECT @@gtid_binlog_pos AS pos');
  const pos = /** @type {string} */ (row?.['pos']);
  await cluster.rootQuery(to, 'SELECT MASTER_GTID_WAIT(?, 30) AS w', [pos]);
  await cluster.rootQuery(to, 'STOP SLAVE');
  await cluster.rootQuery(to, 'RESET SLAVE ALL');
  await cluster.rootQuery(to, 'SET GLOBAL read_only = 0');
  const { host, port } = cluster.server(to);
  for (const name of [from, ...others]) {
    await cluster.rootQuery(name, 'STOP SLAVE');
    await cluster.rootQuery(name, `CHANGE MASTER TO MASTER_HOST=?, MASTER_PORT=${port}, MASTER_USER='tungsten', MASTER_PASSWORD=?, MASTER_USE_GTID=slave_pos`, [host, replicationPassword]);
    await cluster.rootQuery(name, 'START SLAVE');
  }
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/**
 * @param {number} runs
 * @param {(line: string) => void} log
 * @returns {Promise<{ row: import('../lib/report.js').BenchRow } | { notMeasured: import('../lib/report.js').NotMeasured }>}
 */
async function mariadb(runs, log) {
  const helpers = /** @type {MariaDbHelpers} */ (await importTestHelper('mariadb'));
  const missing = helpers.mariadbMissing();
  if (missing) return { notMeasured: { item: 6, name: 'switch on MariaDB', why: missing } };
  log('  switch on MariaDB: starting 3 mariadbd');
  // Its own loopback address and ports, as every test cluster: a suite may run beside it.
  const cluster = await helpers.startMariaDbCluster({ names: ['db1', 'db2', 'db3'] });
  const forget = onInterrupt(() => cluster.stop());
  const dir = mkdtempSync(join(tmpdir(), 'bench-switch-'));
  try {
    await helpers.waitForReplicas(cluster);
    // Baseline first, ending where it began (db1 the master), so the manager starts from the configured roles.
    /** @type {number[]} */
    const manual = [];
    for (let i = 0; i < runs; i++) {
      manual.push(await manualSwitch(cluster, 'db1', 'db2', ['db3'], helpers.MANAGER_PASSWORD));
      manual.push(await manualSwitch(cluster, 'db2', 'db1', ['db3'], helpers.MANAGER_PASSWORD));
    }
    await helpers.waitForReplicas(cluster, 'db1');
    const config = join(dir, 'alpha.properties');
    writeFileSync(config, [
      'service.name=alpha', 'manager.driver=mysql', 'mysql.user=tungsten', `mysql.password=${helpers.MANAGER_PASSWORD}`,
      'policy.mode=manual',
      ...helpers.datasourceProperties(cluster),
      '',
    ].join('\n'));
    const mgr = await startManager(['--config', config]);
    try {
      await sleep(1500);
      /** @type {number[]} */
      const t = [];
      for (let i = 0; i < runs * 2; i++) t.push(await timedTask(mgr, '/switch'));
      return {
        row: {
          item: 6, name: 'switch, MariaDB (mysql driver)', unit: 'ms', value: median(t), samples: t,
          baselineName: 'the same switch by hand in SQL', baseline: median(manual), baselineSamples: manual, ratio: ratio(median(t), median(manual)),
        },
      };
    } finally {
      await mgr.stop();
    }
  } finally {
    forget();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * @param {import('../lib/report.js').ItemOptions} opts
 * @returns {Promise<import('../lib/report.js').ItemOutcome>}
 */
export async function benchSwitch({ quick, log }) {
  const runs = quick ? 3 : 7;
  /** @type {import('../lib/report.js').BenchRow[]} */
  const rows = [];
  /** @type {import('../lib/report.js').NotMeasured[]} */
  const notMeasured = [];
  log(`  switch vs heartbeat on the simulated cluster, ${runs} runs each`);
  rows.push(await simulated('simulated demo (200 ms per driver step)', ['--demo'], runs));
  rows.push(await simulated('simulated, no step delay', ['--demo', '--property=simulation.stepDelayMs=0'], runs));
  try {
    const m = await mariadb(quick ? 1 : 3, log);
    if ('row' in m) rows.push(m.row);
    else notMeasured.push(m.notMeasured);
  } catch (e) {
    notMeasured.push({ item: 6, name: 'switch on MariaDB', why: `failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` });
  }
  return { rows, notMeasured };
}
