/**
 * The MariaDB test harness itself (test/helpers/mariadb.ts): each cluster on its own loopback
 * address, the faults a chaos test injects (freeze/thaw, kill -9, clean shutdown, start), read_only
 * of each server, and reset() bringing back the known state whatever was done to the servers,
 * diverged histories included.
 */
import { titleOrSkipReason } from '../helpers/processes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mariadbMissing, skipWithoutMariaDb, startMariaDbCluster, startWriter, writtenIds, type MariaDbCluster } from '../helpers/mariadb.js';

async function slaveStatus(cluster: MariaDbCluster, name: string) {
  const [row] = await cluster.rootQuery<Array<Record<string, unknown>>>(name, 'SHOW SLAVE STATUS');
  return row ?? null;
}

async function expectKnownState(cluster: MariaDbCluster): Promise<void> {
  expect(await cluster.readOnlyAll()).toEqual({ db1: false, db2: true, db3: true });
  expect(await slaveStatus(cluster, 'db1')).toBeNull();
  for (const name of ['db2', 'db3']) {
    expect(await slaveStatus(cluster, name)).toMatchObject({
      Master_Host: cluster.host,
      Master_Port: cluster.server('db1').port,
      Using_Gtid: 'Slave_Pos',
      Slave_IO_Running: 'Yes',
      Slave_SQL_Running: 'Yes',
      SQL_Delay: 0,
    });
  }
  const [one, two, three] = await Promise.all(['db1', 'db2', 'db3'].map((n) => writtenIds(cluster, n)));
  expect([...two!].sort()).toEqual([...one!].sort());
  expect([...three!].sort()).toEqual([...one!].sort());
}

describe.skipIf(skipWithoutMariaDb)(titleOrSkipReason('the MariaDB test harness', skipWithoutMariaDb ? mariadbMissing() : null), () => {
  let cluster: MariaDbCluster;

  beforeAll(async () => {
    cluster = await startMariaDbCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('listens on a loopback address of its own, not 127.0.0.1, with the slaves replicating from it', async () => {
    expect(cluster.host).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(cluster.host).not.toMatch(/^127\.0\.0\./);
    expect(new Set(cluster.servers.map((s) => s.host))).toEqual(new Set([cluster.host]));
    await expectKnownState(cluster);
    const other = await startMariaDbCluster({ count: 1, replicate: false });
    try {
      expect(other.host).not.toBe(cluster.host);
      // Ports are picked at random for each cluster too: no endpoint is shared.
      const endpoints = (c: typeof cluster) => c.servers.map((s) => `${s.host}:${s.port}`);
      expect(endpoints(other).filter((e) => endpoints(cluster).includes(e))).toEqual([]);
      expect(await other.readOnly('db1')).toBe(false);
    } finally {
      await other.stop();
    }
  });

  it('freezes and thaws a server: no answer while frozen, the same process afterwards', async () => {
    const pid = cluster.server('db2').process!.pid;
    await cluster.freeze('db2');
    expect(cluster.state('db2')).toBe('frozen');
    const started = Date.now();
    expect(await cluster.readOnly('db2', 500)).toBeNull();
    expect(Date.now() - started).toBeLessThan(3000);
    const probe = cluster.readOnlyProbe();
    try {
      const sample = await probe.sample(500);
      expect(Object.fromEntries(Object.entries(sample).map(([k, v]) => [k, v.readOnly]))).toEqual({ db1: false, db2: null, db3: true });
      await cluster.thaw('db2');
      expect(cluster.state('db2')).toBe('running');
      expect((await probe.sample(2000)).db2!.readOnly).toBe(true);
    } finally {
      probe.close();
    }
    expect(cluster.server('db2').process!.pid).toBe(pid);
  });

  it('kill -9 and clean shutdown stop a server; start brings it back read-only, even the master, replicating as before', async () => {
    await cluster.kill9('db1');
    expect(cluster.state('db1')).toBe('stopped');
    expect(await cluster.readOnly('db1')).toBeNull();
    await cluster.start('db1');
    expect(await cluster.readOnly('db1')).toBe(true);
    await cluster.freeze('db3');
    await cluster.shutdown('db3');
    expect(cluster.state('db3')).toBe('stopped');
    await cluster.start('db3');
    expect(await slaveStatus(cluster, 'db3')).toMatchObject({ Master_Port: cluster.server('db1').port, Slave_SQL_Running: 'Yes' });
  });

  it('reset brings back the known state after a diverged history, frozen and stopped servers, delay and stopped replication', async () => {
    // db2 becomes a second master and writes what db1 never gets; db1 writes what db2 never gets.
    await cluster.rootQuery('db2', 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0');
    await cluster.rootQuery('db2', 'INSERT INTO app.writes (id) VALUES (1), (2), (3)');
    await cluster.rootQuery('db1', 'SET GLOBAL read_only = 0; INSERT INTO app.writes (id) VALUES (4)');
    await cluster.rootQuery('db3', 'STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 30; START SLAVE');
    await cluster.kill9('db1');
    await cluster.freeze('db3');
    const report = await cluster.reset();
    expect(report.rebuilt).toEqual(['db2']);
    expect(new Set(report.revived)).toEqual(new Set(['db1', 'db3']));
    await expectKnownState(cluster);
    expect([...(await writtenIds(cluster, 'db2'))].sort()).toEqual([4]);

    // A second reset of a healthy cluster changes nothing and rebuilds nothing.
    expect((await cluster.reset()).rebuilt).toEqual([]);
    await expectKnownState(cluster);
  });

  it('reset after an application wrote to two masters and a failover, with clearWrites', async () => {
    const writer = startWriter(cluster, { route: () => 'db1' });
    await vitestWait(() => writer.progress().acknowledged > 50);
    await cluster.kill9('db1');
    await cluster.rootQuery('db3', 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0');
    await cluster.start('db1');
    await cluster.rootQuery('db1', 'SET GLOBAL read_only = 0');
    const report = await writer.stop();
    expect(report.acknowledged.length).toBeGreaterThan(50);
    await cluster.rootQuery('db3', 'INSERT INTO app.writes (id) VALUES (5)');
    const reset = await cluster.reset({ clearWrites: true });
    expect(reset.rebuilt).toContain('db3');
    await expectKnownState(cluster);
    expect((await writtenIds(cluster, 'db1')).size).toBe(0);
  });
});

async function vitestWait(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
