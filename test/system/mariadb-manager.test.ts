/**
 * The manager on the mysql driver against three real mariadbd servers with GTID replication:
 * monitoring, switch and failover under continuous writes (nothing acknowledged is lost by a switch;
 * a failover loses at most what the dead master never shipped, and picks the replica that loses
 * least), recover of the old master (refused with the reason when it diverged), a server going down
 * and coming back, routing changes, and a wrong password. The rules' timing is unchanged; only the
 * sample period is short (0.5 s, or MARIADB_SAMPLE_PERIOD seconds to measure another), so a dead
 * database server fails over (1 + 1) x 0.5 s after it is first seen down.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager, type ManagerCore } from '../../src/manager/index.js';
import { MysqlDriver, mysqlDriverFromProperties } from '../../src/manager/drivers/mysql.js';
import type { ControlRequest, TaskStatus } from '../../src/manager/model.js';
import { loadProperties } from '../../src/manager/properties.js';
import {
  MANAGER_PASSWORD,
  skipWithoutMariaDb,
  startMariaDbCluster,
  outageBefore,
  startWriter,
  waitForReplicas,
  writtenIds,
  type MariaDbCluster,
  type WriterReport,
} from '../helpers/mariadb.js';

const PORTS = [24064, 24065, 24066];
/** db3 is preferred by precedence, so choosing another replica proves the GTID position decided. */
const PRECEDENCE = [2, 2, 1];
const SERVICE = 'alpha';
const SAMPLE_PERIOD_S = Number(process.env.MARIADB_SAMPLE_PERIOD ?? '0.5');
/** How long one step of an operation may take; the revert test outlasts it on purpose. */
const STEP_TIMEOUT_S = 6;
/** Waits that span monitoring samples grow with the sample period. */
const samples = (ms: number) => ms + 4 * SAMPLE_PERIOD_S * 1000;

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

async function startManager(password: string): Promise<RunningManager> {
  const props = loadProperties({
    overrides: [
      `service.name=${SERVICE}`,
      'service.datasources=db1,db2,db3',
      'manager.driver=mysql',
      ...PORTS.flatMap((port, i) => [
        `datasource.db${i + 1}.host=127.0.0.1`,
        `datasource.db${i + 1}.port=${port}`,
        `datasource.db${i + 1}.role=${i === 0 ? 'master' : 'slave'}`,
        `datasource.db${i + 1}.precedence=${PRECEDENCE[i]}`,
      ]),
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

describe.skipIf(skipWithoutMariaDb)('manager on the mysql driver with three real MariaDB servers', () => {
  let cluster: MariaDbCluster;
  let manager: RunningManager;

  beforeAll(async () => {
    cluster = await startMariaDbCluster({ ports: PORTS });
  });
  afterAll(async () => {
    await manager?.core.close();
    await manager?.driver.close();
    await cluster?.stop();
  });

  it('with a wrong password reports every server as not usable, changes nothing, and never shows the password', async () => {
    const wrong = 'Wrong-Pa55word-xyz';
    const bad = await startManager(wrong);
    try {
      await sleep(samples(500));
      for (const name of ['db1', 'db2', 'db3']) {
        expect(status(bad.core, name).dataServer.state).toBe('UNKNOWN');
      }
      // Nothing was promoted or fenced: db1 still takes writes, the others still replicate.
      expect((await cluster.rootQuery<Array<{ ro: number }>>('db1', 'SELECT @@read_only AS ro'))[0]!.ro).toBe(0);
      expect((await cluster.rootQuery<Array<{ ro: number }>>('db2', 'SELECT @@read_only AS ro'))[0]!.ro).toBe(1);
      // The operator sees why when asking the manager to bring the master back.
      const retry = await runTask(bad.core, { op: 'datasource', host: 'db1', action: 'recover' });
      expect(retry.state).toBe('failed');
      expect(String(retry.taskResult?.error)).toMatch(/access denied for user 'tungsten': check mysql\.user and mysql\.password/);
      const ping = await bad.core.pingDatasource(SERVICE, 'db1');
      expect(ping.alive).toBe(false);
      const everything = JSON.stringify([bad.core.serviceStatus(SERVICE), bad.core.history(SERVICE, 50), bad.logs, bad.core.info(), retry]);
      expect(everything).not.toContain(wrong);
    } finally {
      await bad.core.close();
      await bad.driver.close();
    }
  }, samples(60_000));

  it('monitors the real servers: master, slaves replicating from it, positions, read_only', async () => {
    manager = await startManager(MANAGER_PASSWORD);
    const { core } = manager;
    await waitUntil('the slaves to show the master position', samples(10_000), () => {
      const master = status(core, 'db1');
      return ['db2', 'db3'].every((n) => status(core, n).replicator?.appliedSeqno === master.replicator?.appliedSeqno) && master.replicator;
    });
    expect(status(core, 'db1')).toMatchObject({ role: 'master', state: 'ONLINE', dataServer: { state: 'ONLINE' }, replicator: { role: 'master', state: 'ONLINE' } });
    for (const name of ['db2', 'db3']) {
      expect(status(core, name)).toMatchObject({ role: 'slave', state: 'ONLINE', replicator: { role: 'slave', state: 'ONLINE', masterHost: 'db1' } });
    }
    const beat = await runTask(core, { op: 'heartbeat' });
    expect(beat.state).toBe('complete');
    expect(JSON.stringify([core.serviceStatus(SERVICE), core.history(SERVICE, 50), manager.logs])).not.toContain(MANAGER_PASSWORD);
  }, samples(60_000));

  it('switches to db2 while a client writes continuously: every acknowledged row is on the new master and every slave', async () => {
    const { core } = manager;
    const writer = startWriter(cluster);
    await sleep(1000);
    const started = Date.now();
    const task = await runTask(core, { op: 'switch', target: 'db2' });
    const taskMs = Date.now() - started;
    expect(task.state, JSON.stringify(task.steps)).toBe('complete');
    expect(task.taskResult).toEqual({ newPrimary: 'db2', oldPrimary: 'db1' });
    await sleep(1000);
    const report = await writer.stop();

    expect(report.servers.map((s) => s.name)).toEqual(['db1', 'db2']);
    expect(report.acknowledged.length).toBeGreaterThan(100);
    await waitForReplicas(cluster, 'db2');
    await expectNothingLost(cluster, report, ['db2', 'db1', 'db3']);

    await waitUntil('the old master to replicate from db2', samples(10_000), () => status(core, 'db1').replicator?.masterHost === 'db2');
    expect(status(core, 'db2')).toMatchObject({ role: 'master', state: 'ONLINE' });
    expect(status(core, 'db1')).toMatchObject({ role: 'slave', state: 'ONLINE', replicator: { state: 'ONLINE' } });
    expect(status(core, 'db3')).toMatchObject({ role: 'slave', state: 'ONLINE', replicator: { masterHost: 'db2' } });
    expect(manager.driver.routerNotice).toEqual({ master: 'db2', readable: ['db1', 'db2', 'db3'] });
    measured('switch', { samplePeriodSeconds: SAMPLE_PERIOD_S, writeUnavailableMs: outageBefore(report, 'db2'), taskMs, acknowledged: report.acknowledged.length, uncertain: report.uncertain.length });
  }, samples(60_000));

  it('puts the old master back when a switch cannot complete: the candidate never catches up in time', async () => {
    const { core } = manager;
    // db3 applies everything 60 s late, longer than a step may take.
    await cluster.rootQuery('db3', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 60; START SLAVE');
    const writer = startWriter(cluster);
    try {
      await sleep(1000);
      const task = await runTask(core, { op: 'switch', target: 'db3' });
      expect(task.state, JSON.stringify(task.steps.map((s) => s.line))).toBe('failed');
      expect(String(task.taskResult?.error)).toMatch(/^switch to 'db3@alpha' failed and was reverted: db3 has applied 0-2-\d+, not yet 0-2-\d+ \(waited \d+ ms\)$/);
      expect(task.steps.map((s) => s.line)).toContain("PUT THE PRIOR MASTER 'db2@alpha' BACK ONLINE");
      await sleep(1000);
      const report = await writer.stop();
      // The application wrote to db2 before, and again after: nobody else ever took writes.
      expect(new Set(report.servers.map((s) => s.name))).toEqual(new Set(['db2']));
      expect(report.acknowledged.at(-1)).toBeGreaterThan(report.acknowledged[0]!);
      expect(status(core, 'db2')).toMatchObject({ role: 'master', state: 'ONLINE' });
      expect((await cluster.rootQuery<Array<{ ro: number }>>('db2', 'SELECT @@read_only AS ro'))[0]!.ro).toBe(0);
      await cluster.rootQuery('db3', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE');
      await waitForReplicas(cluster, 'db2');
      await expectNothingLost(cluster, report, ['db2', 'db1', 'db3']);
    } finally {
      await writer.stop();
    }
  }, samples(60_000));

  it('fails over after kill -9 of the master to the replica that has applied most, not the one with the better precedence', async () => {
    const { core } = manager;
    // db3 (precedence 1) falls behind: a delayed replica, whose delay outlasts the failover.
    const delaySeconds = Math.ceil(30 + 8 * SAMPLE_PERIOD_S);
    await cluster.rootQuery('db3', `STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = ${delaySeconds}; START SLAVE`);
    const writer = startWriter(cluster);
    try {
      const appliedBy = async (name: string) => {
        const [row] = await cluster.rootQuery<Array<{ pos: string }>>(name, 'SELECT @@gtid_slave_pos AS pos');
        return Number(row!.pos.split('-')[2] ?? 0);
      };
      await waitUntil('db3 to lag behind db1', samples(15_000), async () => (await appliedBy('db1')) > (await appliedBy('db3')) + 20);
      expect(status(core, 'db3')).toMatchObject({ state: 'ONLINE', replicator: { state: 'ONLINE' } });
      const killedAt = Date.now();
      await cluster.kill9('db2');
      const task = await waitUntil('the automatic failover', samples(30_000), () => core.history(SERVICE, 10).find((t) => t.operation.startsWith('failover') && t.state !== 'in_progress'));
      expect(task.state, JSON.stringify(task.steps)).toBe('complete');
      expect(task.taskResult, JSON.stringify(task.steps.map((s) => s.line))).toEqual({ newPrimary: 'db1', oldPrimary: 'db2' });
      await sleep(1000);
      const report = await writer.stop();
      const firstOnDb1 = report.servers.find((s) => s.name === 'db1');
      expect(firstOnDb1).toBeDefined();

      await cluster.rootQuery('db3', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE');
      await waitForReplicas(cluster, 'db1', ['db3']);
      const onDb1 = await writtenIds(cluster, 'db1');
      const lost = report.acknowledged.filter((id) => !onDb1.has(id));
      // Asynchronous replication can lose what the dead master acknowledged but never shipped:
      // those rows exist only in its own binlog, as its restart shows.
      await cluster.start('db2');
      const onDb2 = await writtenIds(cluster, 'db2');
      expect(lost.filter((id) => !onDb2.has(id))).toEqual([]);
      const onDb3 = await writtenIds(cluster, 'db3');
      expect([...onDb1].filter((id) => !onDb3.has(id))).toEqual([]);
      expect(status(core, 'db2')).toMatchObject({ state: 'SHUNNED', lastShunReason: 'FAILED-OVER-TO-db1' });
      await waitUntil('db3 to replicate from db1', samples(10_000), () => status(core, 'db3').replicator?.masterHost === 'db1');
      measured('failover', {
        killToFirstWriteMs: firstOnDb1!.at - killedAt,
        writeUnavailableMs: outageBefore(report, 'db1'),
        failoverTaskMs: Date.parse(task.endTime!) - Date.parse(task.startTime),
        acknowledged: report.acknowledged.length,
        lostAcknowledged: lost.length,
        samplePeriodSeconds: SAMPLE_PERIOD_S,
      });
    } finally {
      await writer.stop();
    }
  }, samples(60_000));

  it('refuses to recover the old master while it has transactions the new master lacks, and says why', async () => {
    const { core } = manager;
    // Make the divergence certain: a transaction only the old master has, as a write that never
    // left it before the crash would be (root bypasses read_only).
    await cluster.rootQuery('db2', 'INSERT INTO app.writes (id) VALUES (424242)');
    const task = await runTask(core, { op: 'recover' });
    expect(task.state).toBe('failed');
    expect(String(task.taskResult?.error)).toMatch(/db2: cannot rejoin 'db1@alpha': db2 has transactions that db1 lacks \(0-2-\d+ beyond db1's 0-2-\d+\)/);
    expect(status(core, 'db2').state).toBe('SHUNNED');
    expect(await cluster.rootQuery('db2', 'SHOW SLAVE STATUS')).toEqual([]);
  });

  it('fails over again with nothing in flight, then recovers the old master as a slave of the new one', async () => {
    const { core } = manager;
    await waitForReplicas(cluster, 'db1', ['db3']);
    const killedAt = Date.now();
    await cluster.kill9('db1');
    const task = await waitUntil('the automatic failover to db3', samples(30_000), () =>
      core.history(SERVICE, 10).find((t) => t.operation.startsWith('failover') && t.state !== 'in_progress' && Date.parse(t.startTime) >= killedAt - 1000),
    );
    expect(task.state, JSON.stringify(task.steps)).toBe('complete');
    expect(task.taskResult).toEqual({ newPrimary: 'db3', oldPrimary: 'db1' });
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
  }, samples(60_000));

  it('shun, welcome, offline and online change what the connectors are told; welcome needs the server to answer', async () => {
    const { core, driver } = manager;
    expect((await runTask(core, { op: 'datasource', host: 'db1', action: 'shun' })).state).toBe('complete');
    expect(driver.routerNotice?.readable).not.toContain('db1');
    await cluster.shutdown('db1');
    const refused = await runTask(core, { op: 'datasource', host: 'db1', action: 'welcome' });
    expect(refused.state).toBe('failed');
    expect(String(refused.taskResult?.error)).toMatch(/its data server is STOPPED/);
    await cluster.start('db1');
    expect((await runTask(core, { op: 'datasource', host: 'db1', action: 'welcome' })).state).toBe('complete');
    expect(driver.routerNotice).toEqual({ master: 'db3', readable: ['db1', 'db3'] });
    expect((await runTask(core, { op: 'datasource', host: 'db1', action: 'offline' })).state).toBe('complete');
    expect(driver.routerNotice).toEqual({ master: 'db3', readable: ['db3'] });
    expect((await runTask(core, { op: 'datasource', host: 'db1', action: 'online' })).state).toBe('complete');
    expect(driver.routerNotice).toEqual({ master: 'db3', readable: ['db1', 'db3'] });
  }, samples(60_000));

  it('fails a slave whose server goes down, and brings it back ONLINE when the server returns', async () => {
    const { core } = manager;
    await cluster.shutdown('db1');
    await waitUntil('db1 FAILED', samples(10_000), () => status(core, 'db1').state === 'FAILED');
    // While mariadbd shuts down it may first close connections (UNKNOWN); the reason then settles.
    await waitUntil('db1 shown STOPPED', samples(10_000), () => status(core, 'db1').lastError === "DATASERVER 'db1@alpha' STOPPED");
    expect(status(core, 'db3')).toMatchObject({ role: 'master', state: 'ONLINE' });
    await cluster.start('db1');
    await waitUntil('db1 ONLINE again', samples(15_000), () => status(core, 'db1').state === 'ONLINE');
    await waitUntil('db1 replicating again', samples(10_000), () => status(core, 'db1').replicator?.state === 'ONLINE');
    expect(status(core, 'db1').replicator).toMatchObject({ state: 'ONLINE', masterHost: 'db3' });
  }, samples(60_000));
});
