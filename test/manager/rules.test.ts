import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterDriver } from '../../src/manager/drivers/driver.js';
import { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { VirtualClock } from '../../src/manager/clock.js';
import { demoProperties } from '../../src/manager/properties.js';
import { startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.manager.close();
  h = undefined;
});

/** Injects a fault right after the start sample; the next sample (10 s later) detects it. */
async function faultDetectedAt10s(harness: Harness, host: string, fault: Parameters<Harness['fault']>[1]): Promise<void> {
  await harness.fault(host, fault);
  await harness.clock.advance(10_000);
}

describe('failover timing (VirtualClock, exact)', () => {
  it('fails a stopped master database server over exactly 20 s after first detection', async () => {
    h = await startHarness();
    await faultDetectedAt10s(h, 'db1', 'dataserver-stop');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', alertMessage: 'DATASERVER STOPPED' });
    await h.clock.advance(19_999);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1').state).toBe('ONLINE');
    await h.clock.advance(1);
    const newMaster = h.masterName();
    expect(newMaster === 'db2' || newMaster === 'db3').toBe(true);
    expect(h.ds('db1')).toMatchObject({ state: 'SHUNNED', lastShunReason: `FAILED-OVER-TO-${newMaster}`, alertStatus: 'SHUNNED' });
    expect(h.driver.node(newMaster!).isMaster).toBe(true);
    const other = newMaster === 'db2' ? 'db3' : 'db2';
    expect(h.driver.node(other).masterName).toBe(newMaster);
    const [task] = h.manager.history('alpha', 1);
    expect(task).toMatchObject({ operation: 'failover', requestedBy: 'manager', state: 'complete', taskResult: { newPrimary: newMaster } });
  });

  it('fails over an unreachable master host exactly 30 s after first detection', async () => {
    h = await startHarness();
    await faultDetectedAt10s(h, 'db1', 'host-down');
    await h.clock.advance(29_999);
    expect(h.masterName()).toBe('db1');
    await h.clock.advance(1);
    expect(h.masterName()).not.toBe('db1');
    expect(h.ds('db1').state).toBe('SHUNNED');
  });

  it('fails over a master whose replicator stopped at 70 s only with policy.fence.masterReplicator=true', async () => {
    h = await startHarness(['policy.fence.masterReplicator=true']);
    await faultDetectedAt10s(h, 'db1', 'replicator-stop');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', alertMessage: 'REPLICATOR STOPPED' });
    await h.clock.advance(69_999);
    expect(h.masterName()).toBe('db1');
    await h.clock.advance(1);
    expect(h.masterName()).not.toBe('db1');
  });

  it('never fails over a stopped master replicator without the fencing property', async () => {
    h = await startHarness();
    await faultDetectedAt10s(h, 'db1', 'replicator-stop');
    await h.clock.advance(600_000);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', alertMessage: 'REPLICATOR STOPPED' });
    expect(h.manager.history('alpha', 10).filter((t) => t.operation === 'failover')).toEqual([]);
  });

  it('cancels the pending failover when the fault clears at 19 s', async () => {
    h = await startHarness();
    await faultDetectedAt10s(h, 'db1', 'dataserver-stop');
    await h.clock.advance(19_000);
    await h.fault('db1', 'dataserver-start');
    await h.clock.advance(120_000);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'OK' });
  });

  it('takes the intervals from the properties', async () => {
    h = await startHarness(['policy.liveness.dbping.fail.threshold=3']);
    await faultDetectedAt10s(h, 'db1', 'dataserver-stop');
    await h.clock.advance(39_999);
    expect(h.masterName()).toBe('db1');
    await h.clock.advance(1);
    expect(h.masterName()).not.toBe('db1');
    await h.manager.close();

    h = await startHarness(['policy.liveness.samplePeriod=5', 'policy.liveness.hostPing.fail.threshold=1']);
    await h.fault('db1', 'host-down');
    await h.clock.advance(5_000);
    await h.clock.advance(9_999);
    expect(h.masterName()).toBe('db1');
    await h.clock.advance(1);
    expect(h.masterName()).not.toBe('db1');
  });
});

describe('policies', () => {
  it('MAINTENANCE acts on nothing but still reports', async () => {
    h = await startHarness(['policy.mode=maintenance']);
    await h.fault('db1', 'dataserver-stop');
    await h.fault('db3', 'host-down');
    await h.clock.advance(300_000);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', dataServer: { state: 'STOPPED' } });
    expect(h.ds('db3')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', manager: { state: 'STOPPED' } });
    expect(h.manager.history('alpha', 10)).toEqual([expect.objectContaining({ operation: 'datasource db3 fault host-down' }), expect.anything()]);
  });

  it('MANUAL marks a failed master FAILED and never fails over', async () => {
    h = await startHarness(['policy.mode=manual']);
    await faultDetectedAt10s(h, 'db1', 'dataserver-stop');
    await h.clock.advance(20_000);
    expect(h.ds('db1')).toMatchObject({ role: 'master', state: 'FAILED', alertStatus: 'CRITICAL', lastError: "DATASERVER 'db1@alpha' STOPPED", alertMessage: "DATASERVER 'db1@alpha' STOPPED" });
    await h.fault('db1', 'dataserver-start');
    await h.clock.advance(300_000);
    expect(h.ds('db1').state).toBe('FAILED');
    expect(h.masterName()).toBe('db1');
    expect(h.manager.history('alpha', 10).some((t) => t.operation === 'failover')).toBe(false);
  });

  it('AUTOMATIC: a failed slave goes FAILED, then back ONLINE by itself when healthy', async () => {
    h = await startHarness();
    await faultDetectedAt10s(h, 'db3', 'dataserver-stop');
    await h.clock.advance(20_000);
    expect(h.ds('db3')).toMatchObject({ state: 'FAILED', lastError: "DATASERVER 'db3@alpha' STOPPED", alertStatus: 'CRITICAL' });
    expect(h.masterName()).toBe('db1');
    await h.fault('db3', 'dataserver-start');
    await h.clock.advance(10_000);
    expect(h.ds('db3')).toMatchObject({ state: 'ONLINE', lastError: null, alertStatus: 'OK' });
  });

  it('AUTOMATIC: a slave that was down during a failover comes back replicating from the new master', async () => {
    h = await startHarness();
    await faultDetectedAt10s(h, 'db3', 'host-down');
    await h.clock.advance(30_000);
    expect(h.ds('db3').state).toBe('FAILED');
    const failover = await h.run({ op: 'failover' }, 0).catch((e: Error) => e);
    expect(failover).toBeInstanceOf(Error); // master is fine: refused
    await faultDetectedAt10s(h, 'db1', 'dataserver-stop');
    await h.clock.advance(20_000);
    expect(h.masterName()).toBe('db2');
    await h.fault('db3', 'host-up');
    await h.clock.advance(10_000);
    await h.clock.advance(1_000);
    expect(h.ds('db3').state).toBe('ONLINE');
    expect(h.driver.node('db3').masterName).toBe('db2');
  });

  it('fences a slave whose replicator stopped OFFLINE only with policy.fence.slaveReplicator=true, and clears it when the replicator is back', async () => {
    h = await startHarness(['policy.fence.slaveReplicator=true', 'policy.fence.slaveReplicator.threshold=2']);
    await faultDetectedAt10s(h, 'db2', 'replicator-stop');
    await h.clock.advance(29_999);
    expect(h.ds('db2')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED' });
    await h.clock.advance(1);
    expect(h.ds('db2')).toMatchObject({ state: 'OFFLINE', alertStatus: 'WARN', lastError: "REPLICATOR 'db2@alpha' STOPPED" });
    await h.fault('db2', 'replicator-start');
    await h.clock.advance(10_000);
    expect(h.ds('db2')).toMatchObject({ state: 'ONLINE', alertStatus: 'OK', lastError: null });
  });

  it('MANUAL: a failed slave stays FAILED when healthy again', async () => {
    h = await startHarness(['policy.mode=manual']);
    await faultDetectedAt10s(h, 'db3', 'dataserver-stop');
    await h.clock.advance(20_000);
    expect(h.ds('db3').state).toBe('FAILED');
    await h.fault('db3', 'dataserver-start');
    await h.clock.advance(60_000);
    expect(h.ds('db3').state).toBe('FAILED');
  });

  it('a driver that hangs does not stall the monitor: the sample times out and the rules go on', async () => {
    const clock = new VirtualClock();
    const props = demoProperties();
    const sim = new SimulatedDriver({ clock, datasources: props.datasources, connectors: props.connectors, writesPerSecond: 2 });
    let hang = false;
    const hanging: ClusterDriver = Object.assign(Object.create(sim) as SimulatedDriver, {
      observe: (ds: Parameters<ClusterDriver['observe']>[0], _opts: Parameters<ClusterDriver['observe']>[1]) =>
        hang && ds.name === 'db2' ? new Promise<never>(() => {}) : sim.observe(ds),
    });
    h = await startHarness([], { clock, driver: hanging as SimulatedDriver });
    hang = true;
    await h.clock.advance(10_000);
    const firstSample = h.manager.serviceStatus('alpha').sampledAt;
    await h.clock.advance(10_000);
    expect(h.manager.serviceStatus('alpha').sampledAt).not.toBe(firstSample);
    expect(h.ds('db2').dataServer.state).toBe('TIMEOUT');
    await h.clock.advance(20_000);
    expect(h.ds('db2')).toMatchObject({ state: 'FAILED', lastError: "DATASERVER 'db2@alpha' TIMEOUT" });
    expect(h.ds('db1').state).toBe('ONLINE');
  });
});
