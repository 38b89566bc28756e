/**
 * The manager on the mysql driver against three real mariadbd servers with GTID replication:
 * monitoring, switch and failover under continuous writes (nothing acknowledged is lost by a switch;
 * a failover loses at most what the dead master never shipped, and picks the replica that loses
 * least), recover of the old master (refused with the reason when it diverged), a server going down
 * and coming back, routing changes, and a wrong password. The rules' timing is unchanged; only the
 * sample period is short (0.5 s, or MARIADB_SAMPLE_PERIOD seconds to measure another), so a dead
 * database server fails over (1 + 1) x 0.5 s after it is first seen down.
 *
 * Every test starts from the same known state, whatever the one before it did: the cluster reset
 * (db1 the writable master, db2 and db3 read-only slaves of it, caught up) and a new manager that
 * has never seen it. The cluster listens on a loopback address of its own, so this file can run
 * next to any other (another copy of the suite, a benchmark). Waits are on conditions, with
 * generous deadlines for a shared machine.
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createManager, type ManagerCore } from '../../src/manager/index.js';
import { type MysqlDriver, mysqlDriverFromProperties } from '../../src/manager/drivers/mysql.js';
import type { ControlRequest, TaskStatus } from '../../src/manager/model.js';
import { loadProperties } from '../../src/manager/properties.js';
import {
  datasourceProperties,
  MANAGER_PASSWORD,
  mariadbMissing, skipWithoutMariaDb,
  startMariaDbCluster,
  outageBefore,
  startWriter,
  waitForReplicas,
  writtenIds,
  type MariaDbCluster,
  type Writer,
  type WriterReport,
} from '../helpers/mariadb.js';

/** db3 is preferred by precedence, so choosing another replica proves the GTID position decided. */
const PRECEDENCE = [2, 2, 1];
const SERVICE = 'alpha';
const SAMPLE_PERIOD_S = Number(process.env.MARIADB_SAMPLE_PERIOD ?? '0.5');
/** How long one step of an operation may take; the revert test outlasts it on purpose. */
const STEP_TIMEOUT_S = 6;
/** Waits that span monitoring samples grow with the sample period; generous, for a busy machine. */
const samples = (ms: number) => 2 * ms + 8 * SAMPLE_PERIOD_S * 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface RunningManager {
  core: ManagerCore;
  driver: MysqlDriver;
  logs: string[];
}

async function startManager(cluster: MariaDbCluster, password: string): Promise<RunningManager> {
  const props = loadProperties({
    overrides: [
      `service.name=${SERVICE}`,
      'manager.driver=mysql',
      ...datasourceProperties(cluster, { precedence: PRECEDENCE }),
      'mysql.user=tungsten',
      `mysql.password=${password}`,
      `policy.liveness.samplePeriod=${SAMPLE_PERIOD_S}`,
      'policy.liveness.dbping.timeout=2',
      'policy.liveness.hostPing.timeout=1',
      `manager.operation.step.timeout=${STEP_TIMEOUT_S}`,
    ],
  });
  const driver = mysqlDriverFromProperties(props);
  const logs: string[] = [];
  const logger = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
  const core = await createManager({ properties: props, driver, logger, hostName: 'test' });
  return { core, driver, logs };
}

async function runTask(core: ManagerCore, request: ControlRequest, timeoutMs = 60_000): Promise<TaskStatus> {
  const started = core.control(SERVICE, request, 'test');
  return waitUntil(`task ${started.operation}`, timeoutMs, () => {
    const t = core.task(started.taskId);
    return t.state !== 'in_progress' ? t : null;
  });
}

function status(core: ManagerCore, name: string) {
  return core.datasourceStatus(SERVICE, name);
}

/** Resolves once the manager has completed `count` more monitoring samples. */
async function samplesTaken(core: ManagerCore, count: number): Promise<void> {
  let last = core.serviceStatus(SERVICE).sampledAt;
  for (let seen = 0; seen < count; ) {
    await waitUntil(`monitoring sample ${seen + 1} of ${count}`, samples(10_000), () => core.serviceStatus(SERVICE).sampledAt !== last);
    last = core.serviceStatus(SERVICE).sampledAt;
    seen++;
  }
}

/** The manager has seen the configured roles: slaves replicating from db1, every datasource ONLINE. */
async function settled(core: ManagerCore): Promise<void> {
  await waitUntil('the manager to see db1 master and db2, db3 replicating from it', samples(15_000), () =>
    status(core, 'db1').state === 'ONLINE' &&
    ['db2', 'db3'].every((n) => status(core, n).state === 'ONLINE' && status(core, n).replicator?.state === 'ONLINE' && status(core, n).replicator?.masterHost === 'db1'),
  );
}

/** Until the writer has `count` more acknowledged writes, on `server` when given. */
async function writesAcknowledged(writer: Writer, count: number, server?: string): Promise<void> {
  const from = writer.progress().acknowledged;
  await waitUntil(`${count} acknowledged writes${server ? ` on ${server}` : ''}`, 60_000, () => {
    const p = writer.progress();
    return p.acknowledged >= from + count && (server === undefined || p.lastServer === server);
  });
}

async function readOnly(cluster: MariaDbCluster, name: string): Promise<number> {
  return Number((await cluster.rootQuery<Array<{ ro: number }>>(name, 'SELECT @@read_only AS ro'))[0]!.ro);
}

/** The automatic failover task that started after `since` (ms since epoch), once it ended. */
function failoverAfter(core: ManagerCore, since: number, what = 'the automatic failover') {
  return waitUntil(what, samples(30_000), () =>
    core.history(SERVICE, 20).find((t) => t.operation.startsWith('failover') && t.state !== 'in_progress' && Date.parse(t.startTime) >= since - 1000),
  );
}

/** Every acknowledged write is on `name`; the uncertain ones are there on all servers or none. */
async function expectNothingLost(cluster: MariaDbCluster, report: WriterReport, names: string[]): Promise<void> {
  const seen = await Promise.all(names.map((n) => writtenIds(cluster, n)));
  names.forEach((name, i) => {
    const missing = report.acknowledged.filter((id) => !seen[i]!.has(id));
    expect({ server: name, missing }).toEqual({ server: name, missing: [] });
  });
  for (const id of report.uncertain) expect(new Set(seen.map((s) => s.has(id))).size).toBe(1);
}

/** Figures for docs/PERFORMANCE.md, appended when MARIADB_MEASURE_FILE names a file. */
function measured(what: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ what, ...figures });
  console.log(`[measured] ${line}`);
  const file = process.env.MARIADB_MEASURE_FILE;
  if (file) {
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, `${line}\n`);
  }
}

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason('manager on the mysql driver with three real MariaDB servers', skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;
  /** The manager of the running test, closed after it. */
  let manager: RunningManager | null = null;
  const writers: Writer[] = [];

  /** Starts a writer that the test's end stops even when the test fails. */
  function writer(): Writer {
    const w = startWriter(cluster);
    writers.push(w);
    return w;
  }

  async function freshManager(password = MANAGER_PASSWORD): Promise<RunningManager> {
    manager = await startManager(cluster, password);
    return manager;
  }

  beforeAll(async () => {
    cluster = await startMariaDbCluster();
  });
  beforeEach(async () => {
    await cluster.reset({ clearWrites: true });
  });
  afterEach(async () => {
    await Promise.all(writers.splice(0).map((w) => w.stop()));
    await manager?.core.close();
    await manager?.driver.close();
    manager = null;
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('with a wrong password reports every server as not usable, changes nothing, and never shows the password', async () => {
    const wrong = 'Wrong-Pa55word-xyz';
    const bad = await freshManager(wrong);
    // Long enough for the rules to have acted on what they saw, had they wanted to.
    await samplesTaken(bad.core, 4);
    for (const name of ['db1', 'db2', 'db3']) {
      expect(status(bad.core, name).dataServer.state).toBe('UNKNOWN');
    }
    // Nothing was promoted or fenced: db1 still takes writes, the others still replicate.
    expect(await readOnly(cluster, 'db1')).toBe(0);
    expect(await readOnly(cluster, 'db2')).toBe(1);
    expect(await cluster.rootQuery('db2', 'SHOW SLAVE STATUS')).toMatchObject([{ Slave_SQL_Running: 'Yes', Master_Port: cluster.server('db1').port }]);
    // The operator sees why when asking the manager to bring the master back.
    const retry = await runTask(bad.core, { op: 'datasource', host: 'db1', action: 'recover' });
    expect(retry.state).toBe('failed');
    expect(String(retry.taskResult?.error)).toMatch(/access denied for user 'tungsten': check mysql\.user and mysql\.password/);
    const ping = await bad.core.pingDatasource(SERVICE, 'db1');
    expect(ping.alive).toBe(false);
    const everything = JSON.stringify([bad.core.serviceStatus(SERVICE), bad.core.history(SERVICE, 50), bad.logs, bad.core.info(), retry]);
    expect(everything).not.toContain(wrong);
  }, samples(60_000));

  it('monitors the real servers: master, slaves replicating from it, positions, read_only', async () => {
    const { core, logs } = await freshManager();
    await waitUntil('the slaves to show the master position', samples(10_000), () => {
      const master = status(core, 'db1');
      return ['db2', 'db3'].every((n) => status(core, n).replicator?.appliedSeqno === master.replicator?.appliedSeqno) && master.replicator;
    });
    await settled(core);
    expect(status(core, 'db1')).toMatchObject({ role: 'master', state: 'ONLINE', dataServer: { state: 'ONLINE' }, replicator: { role: 'master', state: 'ONLINE' } });
    for (const name of ['db2', 'db3']) {
      expect(status(core, name)).toMatchObject({ role: 'slave', state: 'ONLINE', replicator: { role: 'slave', state: 'ONLINE', masterHost: 'db1' } });
    }
    const beat = await runTask(core, { op: 'heartbeat' });
    expect(beat.state).toBe('complete');
    expect(JSON.stringify([core.serviceStatus(SERVICE), core.history(SERVICE, 50), logs])).not.toContain(MANAGER_PASSWORD);
  }, samples(60_000));

  it('switches to db2 while a client writes continuously: every acknowledged row is on the new master and every slave', async () => {
    const { core } = await freshManager();
    await settled(core);
    const w = writer();
    await writesAcknowledged(w, 100, 'db1');
    const started = Date.now();
    const task = await runTask(core, { op: 'switch', target: 'db2' });
    const taskMs = Date.now() - started;
    expect(task.state, JSON.stringify(task.steps)).toBe('complete');
    expect(task.taskResult).toEqual({ newPrimary: 'db2', oldPrimary: 'db1' });
    await writesAcknowledged(w, 100, 'db2');
    const report = await w.stop();

    expect(report.servers.map((s) => s.name)).toEqual(['db1', 'db2']);
    expect(report.acknowledged.length).toBeGreaterThan(200);
    await waitForReplicas(cluster, 'db2');
    await expectNothingLost(cluster, report, ['db2', 'db1', 'db3']);

    await waitUntil('the old master to replicate from db2', samples(10_000), () => status(core, 'db1').replicator?.masterHost === 'db2');
    expect(status(core, 'db2')).toMatchObject({ role: 'master', state: 'ONLINE' });
    await waitUntil('db1 an ONLINE slave, replicating', samples(10_000), () => status(core, 'db1').state === 'ONLINE' && status(core, 'db1').replicator?.state === 'ONLINE');
    expect(status(core, 'db1')).toMatchObject({ role: 'slave', state: 'ONLINE', replicator: { state: 'ONLINE' } });
    expect(status(core, 'db3')).toMatchObject({ role: 'slave', state: 'ONLINE', replicator: { masterHost: 'db2' } });
    expect(routerNotice(core)).toEqual({ master: 'db2', readable: ['db1', 'db2', 'db3'] });
    measured('switch', { samplePeriodSeconds: SAMPLE_PERIOD_S, writeUnavailableMs: outageBefore(report, 'db2'), taskMs, acknowledged: report.acknowledged.length, uncertain: report.uncertain.length });
  }, samples(60_000));

  it('puts the old master back when a switch cannot complete: the candidate never catches up in time', async () => {
    const { core } = await freshManager();
    await settled(core);
    // db3 applies everything 60 s late, longer than a step may take.
    await cluster.rootQuery('db3', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 60; START SLAVE');
    const w = writer();
    await writesAcknowledged(w, 100, 'db1');
    const task = await runTask(core, { op: 'switch', target: 'db3' });
    expect(task.state, JSON.stringify(task.steps.map((s) => s.line))).toBe('failed');
    expect(String(task.taskResult?.error)).toMatch(/^switch to 'db3@alpha' failed and was reverted: db3 has applied \d+-\d+-\d+, not yet \d+-\d+-\d+ \(waited \d+ ms\)$/);
    expect(task.steps.map((s) => s.line)).toContain("PUT THE PRIOR MASTER 'db1@alpha' BACK ONLINE");
    const before = w.progress().acknowledged;
    await writesAcknowledged(w, 100, 'db1');
    const report = await w.stop();
    // The application wrote to db1 before, and again after: nobody else ever took writes.
    expect(new Set(report.servers.map((s) => s.name))).toEqual(new Set(['db1']));
    expect(report.acknowledged.length).toBeGreaterThan(before);
    expect(status(core, 'db1')).toMatchObject({ role: 'master', state: 'ONLINE' });
    expect(await readOnly(cluster, 'db1')).toBe(0);
    expect(await readOnly(cluster, 'db3')).toBe(1);
    await cluster.rootQuery('db3', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE');
    await waitForReplicas(cluster, 'db1');
    await expectNothingLost(cluster, report, ['db1', 'db2', 'db3']);
  }, samples(60_000));

  it('fails over after kill -9 of the master to the replica that has received most, not the one with the better precedence', async () => {
    const { core } = await freshManager();
    await settled(core);
    const w = writer();
    await writesAcknowledged(w, 50, 'db1');
    // db3 (precedence 1) falls behind: its link to db1 cut while db1 takes writes, restored only
    // once db1 is dead, so it can never receive what it missed; at the failover both slaves are
    // alike (trying to reach the dead master) but for what they received.
    await cluster.rootQuery('db3', 'STOP SLAVE IO_THREAD');
    await writesAcknowledged(w, 50, 'db1');
    const killedAt = Date.now();
    await cluster.kill9('db1');
    await cluster.rootQuery('db3', 'START SLAVE IO_THREAD');
    const task = await failoverAfter(core, killedAt);
    expect(task.state, JSON.stringify(task.steps)).toBe('complete');
    expect(task.taskResult, JSON.stringify(task.steps.map((s) => s.line))).toMatchObject({ newPrimary: 'db2', oldPrimary: 'db1' });
    await writesAcknowledged(w, 50, 'db2');
    const report = await w.stop();
    const firstOnDb2 = report.servers.find((s) => s.name === 'db2');
    expect(firstOnDb2).toBeDefined();

    await waitForReplicas(cluster, 'db2', ['db3']);
    const onDb2 = await writtenIds(cluster, 'db2');
    const lost = report.acknowledged.filter((id) => !onDb2.has(id));
    // Asynchronous replication can lose what the dead master acknowledged but never shipped:
    // those rows exist only in its own binlog, as its restart shows.
    await cluster.start('db1');
    expect(await readOnly(cluster, 'db1')).toBe(1);
    const onDb1 = await writtenIds(cluster, 'db1');
    expect(lost.filter((id) => !onDb1.has(id))).toEqual([]);
    const onDb3 = await writtenIds(cluster, 'db3');
    expect([...onDb2].filter((id) => !onDb3.has(id))).toEqual([]);
    expect(status(core, 'db1')).toMatchObject({ state: 'SHUNNED', lastShunReason: 'FAILED-OVER-TO-db2' });
    await waitUntil('db3 to replicate from db2', samples(10_000), () => status(core, 'db3').replicator?.masterHost === 'db2');
    measured('failover', {
      killToFirstWriteMs: firstOnDb2!.at - killedAt,
      writeUnavailableMs: outageBefore(report, 'db2'),
      failoverTaskMs: Date.parse(task.endTime!) - Date.parse(task.startTime),
      acknowledged: report.acknowledged.length,
      lostAcknowledged: lost.length,
      samplePeriodSeconds: SAMPLE_PERIOD_S,
    });
  }, samples(90_000));

  /** kill -9 of db1 with nothing in flight: the manager fails over to db3, the replica precedence prefers. */
  async function failOverIdleMaster(core: ManagerCore): Promise<{ killedAt: number; task: TaskStatus }> {
    await settled(core);
    await waitForReplicas(cluster, 'db1');
    const killedAt = Date.now();
    await cluster.kill9('db1');
    const task = await failoverAfter(core, killedAt, 'the automatic failover to db3');
    expect(task.state, JSON.stringify(task.steps)).toBe('complete');
    expect(task.taskResult).toMatchObject({ newPrimary: 'db3', oldPrimary: 'db1' });
    return { killedAt, task };
  }

  it('refuses to recover the old master while it has transactions the new master lacks, and says why', async () => {
    const { core } = await freshManager();
    await failOverIdleMaster(core);
    await cluster.start('db1');
    // Make the divergence certain: a transaction only the old master has, as a write that never
    // left it before the crash would be (root bypasses read_only). The manager may be fencing db1
    // as it comes back, which cuts client sessions: rootWriteRow writes it once all the same.
    await cluster.rootWriteRow('db1', 424242);
    const task = await runTask(core, { op: 'recover' });
    expect(task.state).toBe('failed');
    expect(String(task.taskResult?.error)).toMatch(/db1: cannot rejoin 'db3@alpha': db1 has transactions that db3 lacks \(0-1-\d+ beyond db3's 0-1-\d+\)/);
    expect(status(core, 'db1').state).toBe('SHUNNED');
    expect(await cluster.rootQuery('db1', 'SHOW SLAVE STATUS')).toEqual([]);
    expect(await readOnly(cluster, 'db1')).toBe(1);
  }, samples(60_000));

  it('fails over with nothing in flight, then recovers the old master as a slave of the new one', async () => {
    const { core } = await freshManager();
    const { killedAt, task } = await failOverIdleMaster(core);
    measured('failover-idle', { samplePeriodSeconds: SAMPLE_PERIOD_S, killToNewMasterMs: Date.parse(task.endTime!) - killedAt, failoverTaskMs: Date.parse(task.endTime!) - Date.parse(task.startTime) });

    await cluster.start('db1');
    const recover = await runTask(core, { op: 'datasource', host: 'db1', action: 'recover' });
    expect(recover.state, JSON.stringify(recover.steps)).toBe('complete');
    const app = await cluster.appConnection('db3');
    await app.query('INSERT INTO writes (id) VALUES (777)');
    await app.end();
    await waitForReplicas(cluster, 'db3', ['db1']);
    expect((await writtenIds(cluster, 'db1')).has(777)).toBe(true);
    await waitUntil('db1 shown as a slave of db3', samples(10_000), () => status(core, 'db1').replicator?.masterHost === 'db3');
    expect(status(core, 'db1')).toMatchObject({ role: 'slave', state: 'ONLINE' });
    expect(await readOnly(cluster, 'db1')).toBe(1);
  }, samples(60_000));

  it('shun, welcome, offline and online change what the connectors are told; welcome needs the server to answer', async () => {
    const { core } = await freshManager();
    await settled(core);
    expect((await runTask(core, { op: 'datasource', host: 'db2', action: 'shun' })).state).toBe('complete');
    expect(routerNotice(core).readable).not.toContain('db2');
    await cluster.shutdown('db2');
    const refused = await runTask(core, { op: 'datasource', host: 'db2', action: 'welcome' });
    expect(refused.state).toBe('failed');
    expect(String(refused.taskResult?.error)).toMatch(/its data server is STOPPED/);
    await cluster.start('db2');
    const welcome = await runTask(core, { op: 'datasource', host: 'db2', action: 'welcome' });
    expect(welcome.state, JSON.stringify(welcome.taskResult)).toBe('complete');
    expect(routerNotice(core)).toEqual({ master: 'db1', readable: ['db1', 'db2', 'db3'] });
    expect((await runTask(core, { op: 'datasource', host: 'db2', action: 'offline' })).state).toBe('complete');
    expect(routerNotice(core)).toEqual({ master: 'db1', readable: ['db1', 'db3'] });
    expect((await runTask(core, { op: 'datasource', host: 'db2', action: 'online' })).state).toBe('complete');
    expect(routerNotice(core)).toEqual({ master: 'db1', readable: ['db1', 'db2', 'db3'] });
  }, samples(60_000));

  it('fails a slave whose server goes down, and brings it back ONLINE when the server returns', async () => {
    const { core } = await freshManager();
    await settled(core);
    await cluster.shutdown('db2');
    await waitUntil('db2 FAILED', samples(10_000), () => status(core, 'db2').state === 'FAILED');
    // While mariadbd shuts down it may first close connections (UNKNOWN); the reason then settles.
    await waitUntil('db2 shown STOPPED', samples(10_000), () => status(core, 'db2').lastError === "DATASERVER 'db2@alpha' STOPPED");
    expect(status(core, 'db1')).toMatchObject({ role: 'master', state: 'ONLINE' });
    await cluster.start('db2');
    await waitUntil('db2 ONLINE again', samples(15_000), () => status(core, 'db2').state === 'ONLINE');
    await waitUntil('db2 replicating again', samples(10_000), () => status(core, 'db2').replicator?.state === 'ONLINE');
    expect(status(core, 'db2').replicator).toMatchObject({ state: 'ONLINE', masterHost: 'db1' });
    expect(await readOnly(cluster, 'db2')).toBe(1);
  }, samples(60_000));
});

/** What the connectors are told now: the routes' master, and every server they may read from. */
function routerNotice(core: ManagerCore): { master: string | null; readable: string[] } {
  const routes = core.routes('alpha');
  const readable = [routes.master?.name, ...routes.slaves.map((x) => x.name)].filter((n): n is string => !!n).sort();
  return { master: routes.master?.name ?? null, readable };
}
