import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/manager/clock.js';
import { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { demoProperties } from '../../src/manager/properties.js';

const props = demoProperties();
const [db1, db2, db3] = props.datasources as [typeof props.datasources[0], typeof props.datasources[0], typeof props.datasources[0]];
const opts = { timeoutMs: 1000 };

function cluster(seed = 7, writesPerSecond = 4) {
  const clock = new VirtualClock();
  const driver = new SimulatedDriver({ clock, datasources: props.datasources, connectors: props.connectors, seed, writesPerSecond });
  return { clock, driver };
}

describe('simulated cluster driver', () => {
  it('takes writes on the master and lets slaves apply them after a small lag', async () => {
    const { clock, driver } = cluster();
    await clock.advance(10_000);
    const master = await driver.observe(db1);
    expect(master.replicator).toMatchObject({ role: 'master', masterHost: null, appliedSeqno: 40 });
    const slave = await driver.observe(db2);
    expect(slave.replicator).toMatchObject({ role: 'slave', masterHost: 'db1', state: 'ONLINE' });
    expect(slave.replicator!.appliedSeqno).toBeGreaterThanOrEqual(38);
    expect(slave.replicator!.appliedLatency).toBeLessThan(1);
    expect(slave.readOnly).toBe(true);
  });

  it('is exactly repeatable for a seed', async () => {
    const runs = await Promise.all(
      [1, 2].map(async () => {
        const { clock, driver } = cluster(42);
        await clock.advance(7_300);
        return JSON.stringify([await driver.observe(db1), await driver.observe(db2), await driver.observe(db3), await driver.routers()]);
      }),
    );
    expect(runs[0]).toBe(runs[1]);
  });

  it('injects faults: database server, host and replicator', async () => {
    const { clock, driver } = cluster();
    await driver.injectFault(db2, 'dataserver-stop');
    expect((await driver.observe(db2)).dataServer.state).toBe('STOPPED');
    await driver.injectFault(db2, 'dataserver-start');
    await driver.injectFault(db3, 'host-down');
    expect(await driver.observe(db3)).toMatchObject({ host: 'unreachable', managerUp: false, replicator: null });
    expect((await driver.routers()).map((r) => r.host)).toEqual(['db1', 'db2']);
    await driver.injectFault(db3, 'host-up');
    await driver.injectFault(db2, 'replicator-stop');
    const before = (await driver.observe(db2)).replicator!.appliedSeqno;
    await clock.advance(20_000);
    const stopped = (await driver.observe(db2)).replicator!;
    expect(stopped).toMatchObject({ state: 'STOPPED', appliedSeqno: before });
    expect(stopped.appliedLatency).toBeGreaterThan(19);
  });

  it('fences writes, purging sessions, and connectors reopen them on the master they are told about', async () => {
    const { clock, driver } = cluster();
    await clock.advance(1_000);
    const sessions = driver.node('db1').activeSessions;
    expect(await driver.fenceWrites(db1, opts)).toBe(sessions);
    const seqno = driver.node('db1').appliedSeqno;
    await clock.advance(5_000);
    expect(driver.node('db1').appliedSeqno).toBe(seqno); // read-only: no more writes
    await driver.waitApplied(db3, { seqno }, opts);
    await driver.promote(db3, opts);
    await driver.notifyRouters('db3', ['db2', 'db3'], opts);
    expect(driver.node('db3').activeSessions).toBe(sessions);
    const created = (await driver.routers()).reduce((n, r) => n + r.connections.created, 0);
    expect(created).toBe(2 * sessions);
    await clock.advance(1_000);
    expect(driver.node('db3').appliedSeqno).toBeGreaterThan(seqno);
  });

  it('refuses a rejoin that would lose or diverge data, accepts one that would not', async () => {
    const { clock, driver } = cluster(7, 10);
    await clock.advance(1_050);
    await driver.injectFault(db1, 'host-down'); // the slaves miss db1's last writes
    await driver.promote(db2, opts);
    await driver.replicateFrom(db3, db2, opts);
    await clock.advance(2_000);
    await driver.injectFault(db1, 'host-up');
    const verdict = await driver.checkRejoin(db1, db2, opts);
    expect(verdict.ok).toBe(false);
    expect(await driver.checkRejoin(db3, db2, opts)).toEqual({ ok: true });
  });

  it('fails an operation on demand, once', async () => {
    const { driver } = cluster();
    driver.failNext('promote', 'db2', 'no such luck');
    await expect(driver.promote(db2, opts)).rejects.toThrow('no such luck');
    await expect(driver.promote(db2, opts)).resolves.toBeUndefined();
  });
});
