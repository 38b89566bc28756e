import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { titleOrSkipReason } from '../../helpers/processes.js';
import type { DataSourceConfig } from '../../../src/manager/drivers/driver.js';
import { MysqlDriver } from '../../../src/manager/drivers/mysql.js';
import { MANAGER_PASSWORD, managerDriverOptions, mariadbMissing, skipWithoutMariaDb, startMariaDbCluster, waitForReplicas, type MariaDbCluster } from '../../helpers/mariadb.js';

const call = { timeoutMs: 5000 };

const options = managerDriverOptions;

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason('mysql driver on three real MariaDB servers', skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;
  let driver: MysqlDriver;
  let db1: DataSourceConfig;
  let db2: DataSourceConfig;
  let db3: DataSourceConfig;
  let nextId = 1;

  async function appInsert(name: string): Promise<number> {
    const conn = await cluster.appConnection(name);
    try {
      const id = nextId++;
      await conn.query('INSERT INTO writes (id) VALUES (?)', [id]);
      return id;
    } finally {
      await conn.end();
    }
  }

  async function ids(name: string): Promise<number[]> {
    const rows = await cluster.rootQuery<Array<{ id: number }>>(name, 'SELECT id FROM app.writes ORDER BY id');
    return rows.map((r) => Number(r.id));
  }

  beforeAll(async () => {
    // The cluster listens on a loopback address of its own (see test/helpers/mariadb.ts).
    cluster = await startMariaDbCluster();
    [db1, db2, db3] = cluster.servers.map((s, i) => ({ name: s.name, host: s.host, port: s.port, role: i === 0 ? 'master' : 'slave', precedence: 1 })) as [DataSourceConfig, DataSourceConfig, DataSourceConfig];
    driver = new MysqlDriver(options(), [db1, db2, db3]);
    await cluster.rootQuery('db1', 'SET GLOBAL read_only = 0');
  });
  afterAll(async () => {
    await driver?.close();
    await cluster?.stop();
  });

  it('observes the master: database online, writable, replicator role master at its binlog seqno', async () => {
    await appInsert('db1');
    const seen = await driver.observe(db1, call);
    const [{ pos }] = await cluster.rootQuery<[{ pos: string }]>('db1', 'SELECT @@gtid_binlog_pos AS pos');
    expect(seen.host).toBe('alive');
    expect(seen.dataServer).toEqual({ state: 'ONLINE', reason: null });
    expect(seen.readOnly).toBe(false);
    expect(seen.replicator).toMatchObject({ state: 'ONLINE', role: 'master', masterHost: null, appliedLatency: 0 });
    expect(seen.replicator!.appliedSeqno).toBe(Number(pos.split('-')[2]));
    expect(seen.connections.active).toBeGreaterThanOrEqual(1);
    expect(seen.connections.created).toBeGreaterThanOrEqual(seen.connections.active);
  });

  it('observes a slave: read-only, replicating from db1 by name, applied up to the master', async () => {
    await waitForReplicas(cluster);
    const master = await driver.position(db1, call);
    const seen = await driver.observe(db2, call);
    expect(seen.readOnly).toBe(true);
    expect(seen.replicator).toMatchObject({ state: 'ONLINE', role: 'slave', masterHost: 'db1', appliedSeqno: master.seqno, storedSeqno: master.seqno });
    expect(seen.replicator!.appliedLatency).toBeGreaterThanOrEqual(0);
  });

  it('reports positions as GTID lists whose seqno grows with each write', async () => {
    const before = await driver.position(db1, call);
    await appInsert('db1');
    const after = await driver.position(db1, call);
    expect(after.exact).toMatch(/^0-1-\d+$/);
    expect(after.seqno).toBe(before.seqno + 1);
    await driver.waitApplied(db3, after, call);
    expect((await driver.position(db3, call)).seqno).toBe(after.seqno);
  });

  it('writes a heartbeat through the master and returns its position, which the slaves apply', async () => {
    const before = await driver.position(db1, call);
    const beat = await driver.heartbeat(db1, call);
    expect(beat.seqno).toBeGreaterThan(before.seqno);
    await driver.waitApplied(db2, beat, call);
    const rows = await cluster.rootQuery<Array<{ beats: number; source: string }>>('db2', 'SELECT beats, source FROM tungsten.heartbeat');
    expect(rows).toEqual([{ beats: 1, source: 'db1' }]);
    await driver.heartbeat(db1, call);
    await waitForReplicas(cluster);
    expect((await cluster.rootQuery<Array<{ beats: number }>>('db3', 'SELECT beats FROM tungsten.heartbeat'))[0]!.beats).toBe(2);
  });

  it('waitApplied gives up at its timeout with what the replica has applied', async () => {
    await driver.setReplicator(db3, false, call);
    expect((await driver.observe(db3, call)).replicator!.state).toBe('OFFLINE');
    await appInsert('db1');
    const target = await driver.position(db1, call);
    const started = Date.now();
    await expect(driver.waitApplied(db3, target, { timeoutMs: 1500 })).rejects.toThrow(/^db3 has applied 0-1-\d+, not yet 0-1-\d+ \(waited \d+ ms\)$/);
    expect(Date.now() - started).toBeLessThan(2500);
    await driver.setReplicator(db3, true, call);
    await driver.waitApplied(db3, target, call);
    expect((await driver.observe(db3, call)).replicator!.state).toBe('ONLINE');
  });

  it('waitApplied by seqno alone (a received position) ends once a replica cut off from its master has applied all it has', async () => {
    await cluster.rootQuery('db3', 'STOP SLAVE IO_THREAD');
    try {
      const applied = await driver.position(db3, call);
      // More than it will ever receive while its link is down: a transaction cut off mid-way.
      await driver.waitApplied(db3, { seqno: applied.seqno + 100 }, call);
      expect((await driver.position(db3, call)).seqno).toBe(applied.seqno);
      await expect(driver.waitApplied(db1, { seqno: 1_000_000 }, { timeoutMs: 1000 })).rejects.toThrow(/^db1 is not replicating and has applied 0-1-\d+ \(seqno \d+\), not seqno 1000000$/);
    } finally {
      await cluster.rootQuery('db3', 'START SLAVE IO_THREAD');
    }
    await waitForReplicas(cluster);
  });

  it('fences writes: read-only, client sessions ended and counted, replication untouched; allowWrites undoes it', async () => {
    const sessions = await Promise.all([cluster.appConnection('db1'), cluster.appConnection('db1')]);
    const ended = await driver.fenceWrites(db1, call);
    expect(ended).toBeGreaterThanOrEqual(2);
    for (const s of sessions) await expect(s.query('SELECT 1')).rejects.toThrow();
    await expect(appInsert('db1')).rejects.toThrow(/read-only/);
    expect((await driver.observe(db1, call)).readOnly).toBe(true);
    expect((await driver.observe(db2, call)).replicator!.state).toBe('ONLINE');
    await driver.allowWrites(db1, call);
    const id = await appInsert('db1');
    await waitForReplicas(cluster);
    expect(await ids('db2')).toContain(id);
  });

  it('reports a stopped server as STOPPED (connection refused) on a live host, and ONLINE again when it returns', async () => {
    await cluster.shutdown('db3');
    const seen = await driver.observe(db3, call);
    expect(seen.host).toBe('alive');
    expect(seen.dataServer.state).toBe('STOPPED');
    expect(seen.dataServer.reason).toContain(`db3 (${db3.host}:${db3.port}): connection refused`);
    expect(seen.replicator).toBeNull();
    expect(seen.readOnly).toBeNull();
    await expect(driver.position(db3, call)).rejects.toThrow(/connection refused/);
    await cluster.start('db3');
    await cluster.rootQuery('db3', 'START SLAVE');
    expect((await driver.observe(db3, call)).dataServer.state).toBe('ONLINE');
  });

  it('a wrong password gives a clear reason that never contains the password', async () => {
    const wrong = 'not-the-Password-123';
    const badDriver = new MysqlDriver(options({ password: wrong }));
    const seen = await badDriver.observe(db1, call);
    expect(seen.dataServer.state).toBe('UNKNOWN');
    expect(seen.dataServer.reason).toBe(`cannot ping on db1 (${db1.host}:${db1.port}): access denied for user 'tungsten': check mysql.user and mysql.password (or mysql.passwordFile)`);
    const error = await badDriver.fenceWrites(db1, call).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(/access denied/);
    const everything = JSON.stringify([seen, error?.message, error?.stack, Object.entries(error ?? {})]);
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(MANAGER_PASSWORD);
  });

  it('switches by hand: fence, wait, promote db2, repoint db3 and db1 with GTID auto-positioning', async () => {
    const written = [await appInsert('db1'), await appInsert('db1')];
    await driver.fenceWrites(db1, call);
    const last = await driver.position(db1, call);
    await driver.waitApplied(db2, last, call);
    await driver.promote(db2, call);
    await driver.replicateFrom(db3, db2, call);
    await driver.replicateFrom(db1, db2, call);
    expect(await driver.checkRejoin(db1, db2, call)).toEqual({ ok: true });

    const [o1, o2, o3] = await Promise.all([driver.observe(db1, call), driver.observe(db2, call), driver.observe(db3, call)]);
    expect(o2.readOnly).toBe(false);
    expect(o2.replicator).toMatchObject({ role: 'master', masterHost: null });
    expect(o1.readOnly).toBe(true);
    expect(o3.readOnly).toBe(true);
    const after = await appInsert('db2');
    await waitForReplicas(cluster, 'db2');
    for (const name of ['db1', 'db2', 'db3']) expect(await ids(name)).toEqual(expect.arrayContaining([...written, after]));
    expect((await driver.observe(db1, call)).replicator).toMatchObject({ state: 'ONLINE', role: 'slave', masterHost: 'db2' });
    expect((await driver.observe(db3, call)).replicator).toMatchObject({ state: 'ONLINE', role: 'slave', masterHost: 'db2' });
    expect((await driver.position(db1, call)).exact).toMatch(/^0-2-\d+$/);
  });

  it('switches back to db1 with an account that holds only the privileges the README lists', async () => {
    await cluster.rootQuery('db2', `
      CREATE USER 'tungsten_min'@'127.0.0.1' IDENTIFIED BY 'min-pw-1';
      GRANT READ_ONLY ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, REPLICA MONITOR, RELOAD, PROCESS, REPLICATION SLAVE ON *.* TO 'tungsten_min'@'127.0.0.1';
      GRANT CREATE, SELECT, INSERT, UPDATE ON tungsten.* TO 'tungsten_min'@'127.0.0.1';
    `);
    await waitForReplicas(cluster, 'db2');
    const min = new MysqlDriver(options({ user: 'tungsten_min', password: 'min-pw-1', replicationUser: 'tungsten_min', replicationPassword: 'min-pw-1' }), [db1, db2, db3]);
    const session = await cluster.appConnection('db2');
    try {
      expect((await min.observe(db1, call)).replicator).toMatchObject({ role: 'slave', masterHost: 'db2' });
      expect(await min.fenceWrites(db2, call)).toBeGreaterThanOrEqual(1);
      await min.waitApplied(db1, await min.position(db2, call), call);
      await min.promote(db1, call);
      await min.replicateFrom(db3, db1, call);
      await min.replicateFrom(db2, db1, call);
      const beat = await min.heartbeat(db1, call);
      await min.waitApplied(db2, beat, call);
      await min.waitApplied(db3, beat, call);
      expect((await min.observe(db2, call)).replicator).toMatchObject({ state: 'ONLINE', role: 'slave', masterHost: 'db1' });
      expect(await min.checkRejoin(db2, db1, call)).toEqual({ ok: true });
    } finally {
      session.destroy();
      await min.close();
    }
    const id = await appInsert('db1');
    await waitForReplicas(cluster, 'db1');
    expect(await ids('db2')).toContain(id);
    expect(await ids('db3')).toContain(id);
  });

  it('refuses a rejoin when the server has transactions the master lacks, with the reason', async () => {
    await driver.setReplicator(db2, false, call);
    // A write that reached only db2 (root bypasses read_only), as an old master's last writes would.
    await cluster.rootQuery('db2', 'INSERT INTO app.writes (id) VALUES (999999)');
    const verdict = await driver.checkRejoin(db2, db1, call);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toMatch(/^db2 has transactions that db1 lacks \(0-2-\d+ beyond db1's 0-2-\d+\); rejoining would lose or diverge them: reconcile them, or rebuild db2 from db1$/);
  });
});
