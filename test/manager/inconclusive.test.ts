/**
 * The manager's own trouble is not evidence of a dead server (issue 9, item 3): an inconclusive
 * observation (the manager out of descriptors, a server at max_connections, the manager's event
 * loop stalled) neither starts nor clears a fault timer, and no time without evidence counts
 * towards a failover. On a VirtualClock, exactly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock, type TimerHandle } from '../../src/manager/clock.js';
import type { DataSourceConfig, Observation } from '../../src/manager/drivers/driver.js';
import { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { demoProperties } from '../../src/manager/properties.js';
import { startHarness, type Harness } from './harness.js';

type Override = ((obs: Observation) => Observation) | { throws: Error } | 'hang';

/** A simulated cluster whose observations of one datasource a test can replace, fail or hang. */
class ScriptedDriver extends SimulatedDriver {
  readonly overrides = new Map<string, Override>();
  readonly observeCalls = new Map<string, number>();
  /** Each observation takes this long on the clock (so concurrent calls overlap). */
  observeDelayMs = 0;

  constructor(private readonly virtualClock: VirtualClock) {
    const props = demoProperties(['simulation.stepDelayMs=0']);
    super({ clock: virtualClock, datasources: props.datasources, connectors: props.connectors, stepDelayMs: 0 });
  }

  override async observe(ds: DataSourceConfig): Promise<Observation> {
    this.observeCalls.set(ds.name, (this.observeCalls.get(ds.name) ?? 0) + 1);
    if (this.observeDelayMs > 0) await new Promise<void>((r) => this.virtualClock.setTimeout(r, this.observeDelayMs));
    const override = this.overrides.get(ds.name);
    if (override === 'hang') return new Promise<never>(() => undefined);
    if (override && 'throws' in override) throw override.throws;
    const obs = await super.observe(ds);
    return override ? override(obs) : obs;
  }
}

/** What the mysql driver reports for a server at max_connections. */
const tooManyConnections = (obs: Observation): Observation => ({
  ...obs,
  dataServer: { state: 'UNKNOWN', reason: 'cannot ping on db1 (127.0.0.11:3306): Too many connections' },
  replicator: null,
  readOnly: null,
  gtidState: null,
  inconclusive: 'the server is alive but refuses more connections (max_connections reached)',
});

/** What the mysql driver reports when the manager has no descriptor left for the host check and the connection. */
const outOfDescriptors = (obs: Observation): Observation => ({
  ...obs,
  host: 'unreachable',
  managerUp: false,
  dataServer: { state: 'UNKNOWN', reason: 'cannot ping on db1 (127.0.0.11:3306): connect EMFILE' },
  replicator: null,
  readOnly: null,
  gtidState: null,
  inconclusive: 'the manager is out of file descriptors (EMFILE)',
});

const serverStopped = (obs: Observation): Observation => ({
  ...obs,
  dataServer: { state: 'STOPPED', reason: 'connection refused' },
  replicator: null,
  readOnly: null,
  inconclusive: null,
});

function emfile(): Error {
  return Object.assign(new Error('cannot ping on db1 (127.0.0.11:3306): connect EMFILE 127.0.0.11:3306 - Local (undefined:undefined)'), { code: 'EMFILE' });
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.manager.close();
  h = undefined;
});

async function start(overrides: string[] = [], clock = new VirtualClock()): Promise<{ h: Harness; driver: ScriptedDriver; clock: VirtualClock }> {
  const driver = new ScriptedDriver(clock);
  h = await startHarness(overrides, { clock, driver });
  await clock.advance(10_000);
  expect(h.ds('db1')).toMatchObject({ role: 'master', state: 'ONLINE' });
  return { h, driver, clock };
}

describe('an inconclusive observation of the master', () => {
  it('"Too many connections" for far longer than the failover threshold fails nothing over', async () => {
    const { h, driver, clock } = await start();
    driver.overrides.set('db1', tooManyConnections);
    // The database server threshold is 20 s (host: 30 s); five minutes of a full server.
    await clock.advance(300_000);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'OK' });
    expect(h.manager.history('alpha', 10).filter((t) => t.operation.startsWith('failover'))).toEqual([]);
  });

  it('the manager out of descriptors (host check and connection both EMFILE) is not HOST UNREACHABLE', async () => {
    const { h, driver, clock } = await start();
    for (const name of ['db1', 'db2', 'db3']) driver.overrides.set(name, outOfDescriptors);
    await clock.advance(300_000);
    expect(h.masterName()).toBe('db1');
    for (const name of ['db1', 'db2', 'db3']) expect(h.ds(name)).toMatchObject({ state: 'ONLINE', alertStatus: 'OK' });
    // The manager there was last seen up, and is still reported so: nothing conclusive said otherwise.
    expect(h.manager.members('alpha').map((m) => m.state)).toEqual(['ONLINE', 'ONLINE', 'ONLINE']);
    // And when the flood ends, nothing happens either.
    driver.overrides.clear();
    await clock.advance(60_000);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'OK' });
  });

  it('an EMFILE thrown by the driver is inconclusive, not a TIMEOUT', async () => {
    const { h, driver, clock } = await start();
    driver.overrides.set('db1', { throws: emfile() });
    await clock.advance(300_000);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'OK', dataServer: { state: 'UNKNOWN' } });
  });

  it('keeps the last conclusive fault, and the time without evidence does not count towards the failover', async () => {
    const { h, driver, clock } = await start();
    // One conclusive sample: the server is stopped (timer starts).
    driver.overrides.set('db1', serverStopped);
    await clock.advance(10_000);
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', alertMessage: 'DATASERVER STOPPED' });
    // Then a minute without evidence: the fault stays shown, nothing is failed over.
    driver.overrides.set('db1', tooManyConnections);
    await clock.advance(60_000);
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', alertMessage: 'DATASERVER STOPPED' });
    expect(h.masterName()).toBe('db1');
    // Conclusive again: the fault must last its whole delay (20 s) in conclusive samples, counting
    // the one before the gap: one more sample (10 s) is not enough, the next one is.
    driver.overrides.set('db1', serverStopped);
    await clock.advance(10_000);
    expect(h.ds('db1').state).toBe('ONLINE');
    await clock.advance(10_000);
    expect(h.ds('db1').state).not.toBe('ONLINE');
  });

  it('a conclusive healthy sample after the gap clears the kept fault', async () => {
    const { h, driver, clock } = await start();
    driver.overrides.set('db1', serverStopped);
    await clock.advance(10_000);
    driver.overrides.set('db1', tooManyConnections);
    await clock.advance(30_000);
    driver.overrides.delete('db1');
    await clock.advance(10_000);
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'OK' });
    driver.overrides.set('db1', serverStopped);
    await clock.advance(10_000);
    // A new fault starts a new timer: not failed after one sample.
    expect(h.ds('db1').state).toBe('ONLINE');
  });

  it('still fails over a master that is really down (the control case)', async () => {
    const { h, driver, clock } = await start();
    driver.overrides.set('db1', serverStopped);
    await clock.advance(40_000);
    expect(h.ds('db1').state).not.toBe('ONLINE');
    await clock.advance(30_000);
    expect(h.masterName()).not.toBe('db1');
  });
});

/** A VirtualClock whose timers fire `lagMs` late: the manager's event loop stalled. */
class StallingClock extends VirtualClock {
  lagMs = 0;
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    return super.setTimeout(fn, ms + this.lagMs);
  }
}

describe('a driver timeout while the manager itself was stalled', () => {
  it('a deadline that fired over twice late is inconclusive: no failover', async () => {
    const clock = new StallingClock();
    const { h, driver } = await start([], clock);
    driver.overrides.set('db1', 'hang');
    // The observation deadline is 7 s (database 5 s + host 2 s); it fires 10 s late.
    clock.lagMs = 10_000;
    await clock.advance(300_000);
    expect(h.masterName()).toBe('db1');
    expect(h.ds('db1')).toMatchObject({ state: 'ONLINE', alertStatus: 'OK' });
  });

  it('a deadline that fired on time is a TIMEOUT like before, and fails the hung master over', async () => {
    const clock = new StallingClock();
    const { h, driver } = await start([], clock);
    driver.overrides.set('db1', 'hang');
    clock.lagMs = 1_000;
    await clock.advance(120_000);
    expect(h.masterName()).not.toBe('db1');
    expect(h.ds('db1').lastError).toContain('TIMEOUT');
  });
});

describe('pinging a datasource', () => {
  it('400 concurrent pings of one datasource cost one observation', async () => {
    const { h, driver, clock } = await start();
    driver.observeDelayMs = 100;
    driver.observeCalls.clear();
    const pings = Array.from({ length: 400 }, () => h.manager.pingDatasource('alpha', 'db1'));
    await clock.advance(200);
    const results = await Promise.all(pings);
    expect(driver.observeCalls.get('db1')).toBe(1);
    expect(results.every((r) => r.alive && r.host === 'db1')).toBe(true);
    // The next ping after those is a fresh observation.
    const next = h.manager.pingDatasource('alpha', 'db1');
    await clock.advance(200);
    expect((await next).alive).toBe(true);
    expect(driver.observeCalls.get('db1')).toBe(2);
  });
});
