/**
 * The simulated driver models what MariaDB does: GTIDs, read_only across restarts, a frozen server,
 * slaves that keep following a dead master, errant transactions, application writes.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/manager/clock.js';
import { SimulatedDriver, type AppWriteResult } from '../../src/manager/drivers/simulated.js';
import { demoProperties } from '../../src/manager/properties.js';

const props = demoProperties();
const [db1, db2, db3] = props.datasources as [typeof props.datasources[0], typeof props.datasources[0], typeof props.datasources[0]];
const opts = { timeoutMs: 1000 };

function cluster(extra: Partial<ConstructorParameters<typeof SimulatedDriver>[0]> = {}) {
  const clock = new VirtualClock();
  const driver = new SimulatedDriver({ clock, datasources: props.datasources, connectors: props.connectors, seed: 7, writesPerSecond: 0, ...extra });
  return { clock, driver };
}

function ok(w: AppWriteResult): Extract<AppWriteResult, { ok: true }> {
  if (!w.ok) throw new Error(`write refused: ${w.reason}`);
  return w;
}

/** A call bounded by an AbortSignal the test fires; resolves to what became of it. */
function bounded<T>(work: (o: { timeoutMs: number; signal: AbortSignal }) => Promise<T>) {
  const controller = new AbortController();
  let outcome: 'pending' | 'resolved' | 'rejected' = 'pending';
  const p = work({ timeoutMs: 1000, signal: controller.signal }).then(
    () => void (outcome = 'resolved'),
    () => void (outcome = 'rejected'),
  );
  return { abort: () => controller.abort(), outcome: () => outcome, done: p };
}

describe('simulated MariaDB: GTIDs', () => {
  it('gives every write the GTID 0-<server id>-<seqno> and lists gtid_binlog_state per server', async () => {
    const { clock, driver } = cluster();
    expect(driver.node('db1').serverId).toBe(1);
    expect(driver.node('db3').serverId).toBe(3);
    expect((await driver.observe(db1)).gtidState).toBe('');
    for (let i = 0; i < 3; i++) expect(ok(driver.appWrite('db1')).gtid).toBe(`0-1-${i + 1}`);
    await clock.advance(2_000);
    expect((await driver.observe(db2)).gtidState).toBe('0-1-3');
    await driver.fenceWrites(db1, opts);
    await driver.promote(db2, opts);
    await driver.replicateFrom(db1, db2, opts);
    await driver.replicateFrom(db3, db2, opts);
    await driver.notifyRouters('db2', ['db1', 'db2', 'db3']);
    expect(ok(driver.routedWrite()).gtid).toBe('0-2-4');
    expect(ok(driver.appWrite('db2')).gtid).toBe('0-2-5');
    await clock.advance(2_000);
    for (const ds of [db1, db2, db3]) expect((await driver.observe(ds)).gtidState).toBe('0-1-3,0-2-5');
    expect(await driver.position(db2, opts)).toEqual({ seqno: 5, exact: '0-2-5' });
  });

  it('starts from a shared history written by the first master', async () => {
    const { driver } = cluster({ startSeqno: 100 });
    expect(driver.gtidStateOf('db3')).toBe('0-1-100');
    expect(ok(driver.appWrite('db1')).gtid).toBe('0-1-101');
  });

  it('reads back whether a server holds an acknowledged write', async () => {
    const { clock, driver } = cluster();
    const w = ok(driver.appWrite('db1'));
    expect(driver.holdsWrite('db1', w)).toBe(true);
    expect(driver.holdsWrite('db2', w)).toBe(false); // not yet: the slave lags
    await clock.advance(1_000);
    expect(driver.holdsWrite('db2', w)).toBe(true);
    // A different transaction with the same seqno is not that write.
    expect(driver.holdsWrite('db2', { id: w.id + 1000, seqno: w.seqno })).toBe(false);
  });
});

describe('simulated MariaDB: application writes and read_only', () => {
  it('accepts writes only on a server that is up, answers and is not read_only', async () => {
    const { driver } = cluster();
    expect(driver.appWrite('db1').ok).toBe(true);
    expect(driver.appWrite('db2')).toMatchObject({ ok: false, unknown: false, reason: expect.stringMatching(/read-only/) });
    await driver.injectFault(db1, 'dataserver-stop');
    expect(driver.appWrite('db1')).toMatchObject({ ok: false, unknown: false, reason: expect.stringMatching(/refused/) });
    expect(driver.node('db1').acceptsWrites).toBe(false);
  });

  it('a restarted server comes up writable unless configured read_only, and restarts its slave threads', async () => {
    const { clock, driver } = cluster();
    await driver.injectFault(db2, 'dataserver-stop');
    expect((await driver.observe(db2)).replicator).toBeNull();
    await driver.injectFault(db2, 'dataserver-start');
    expect(driver.node('db2')).toMatchObject({ readOnly: false, acceptsWrites: true, masterName: 'db1', replicatorState: 'ONLINE' });
    expect(driver.appWrite('db2').ok).toBe(true); // a second writable server: what the manager must fence

    const configured = cluster({ restartReadOnly: true }).driver;
    await configured.injectFault(db1, 'dataserver-kill');
    await configured.injectFault(db1, 'dataserver-start');
    expect(configured.node('db1')).toMatchObject({ isMaster: true, readOnly: true, acceptsWrites: false });
    await clock.advance(0);
  });

  it('the timer writes go to the routed master; a checker can turn them off and write itself', async () => {
    const { clock, driver } = cluster({ writesPerSecond: 4 });
    await clock.advance(1_000);
    expect(driver.node('db1').appliedSeqno).toBe(4);
    driver.setWritesPerSecond(0);
    await clock.advance(5_000);
    expect(driver.node('db1').appliedSeqno).toBe(4);
    expect(ok(driver.routedWrite()).server).toBe('db1');
    await driver.notifyRouters(null, []);
    expect(driver.routedWrite()).toMatchObject({ ok: false, server: null });
  });
});

describe('simulated MariaDB: a frozen server (SIGSTOP)', () => {
  it('answers nothing until thawed; a call rejects only when aborted, without effect', async () => {
    const { clock, driver } = cluster();
    await driver.injectFault(db1, 'dataserver-freeze');
    const observing = bounded((o) => driver.observe(db1, o));
    const fencing = bounded((o) => driver.fenceWrites(db1, o));
    await clock.advance(120_000);
    expect([observing.outcome(), fencing.outcome()]).toEqual(['pending', 'pending']);
    fencing.abort();
    await fencing.done;
    expect(fencing.outcome()).toBe('rejected');
    expect(driver.node('db1')).toMatchObject({ frozen: true, readOnly: false, acceptsWrites: false });
    // A write sent to it hangs: outcome unknown, and it commits when the server resumes.
    expect(driver.appWrite('db1')).toMatchObject({ ok: false, unknown: true });
    await driver.injectFault(db1, 'dataserver-thaw');
    await observing.done;
    expect(observing.outcome()).toBe('resolved');
    expect(driver.node('db1')).toMatchObject({ frozen: false, readOnly: false, acceptsWrites: true, appliedSeqno: 1 });
  });

  it('its slaves see it as gone only after slave_net_timeout, then keep following it (SYNCHRONIZING, latency -1)', async () => {
    const { clock, driver } = cluster({ slaveNetTimeoutMs: 30_000 });
    ok(driver.appWrite('db1'));
    await clock.advance(2_000);
    await driver.injectFault(db1, 'dataserver-freeze');
    await clock.advance(29_000);
    expect((await driver.observe(db2)).replicator).toMatchObject({ state: 'ONLINE', masterHost: 'db1' });
    await clock.advance(2_000);
    const gone = (await driver.observe(db2)).replicator!;
    expect(gone).toMatchObject({ state: 'SYNCHRONIZING', masterHost: 'db1', appliedLatency: -1 });
    // A slave pointed at the frozen master now never saw it answer: SYNCHRONIZING at once.
    await driver.replicateFrom(db3, db1, opts);
    expect((await driver.observe(db3)).replicator!.state).toBe('SYNCHRONIZING');
    await driver.injectFault(db1, 'dataserver-thaw');
    ok(driver.appWrite('db1'));
    await clock.advance(2_000);
    expect((await driver.observe(db2)).replicator).toMatchObject({ state: 'ONLINE', appliedSeqno: 2 });
  });
});

describe('simulated MariaDB: slaves of a dead master', () => {
  it('keep following it and never catch up from anybody else', async () => {
    const { clock, driver } = cluster();
    ok(driver.appWrite('db1'));
    await clock.advance(2_000);
    await driver.injectFault(db1, 'dataserver-kill');
    await driver.promote(db2, opts);
    for (let i = 0; i < 5; i++) ok(driver.appWrite('db2'));
    await clock.advance(10_000);
    expect((await driver.observe(db3)).replicator).toMatchObject({ state: 'SYNCHRONIZING', masterHost: 'db1', appliedSeqno: 1, appliedLatency: -1 });
  });

  it('a kill -9 loses what had not reached the slaves; a clean stop sends them all of it first', async () => {
    const killed = cluster();
    ok(killed.driver.appWrite('db1'));
    await killed.driver.injectFault(db1, 'dataserver-kill');
    await killed.clock.advance(5_000);
    expect(killed.driver.node('db2').appliedSeqno).toBe(0);
    const stopped = cluster();
    ok(stopped.driver.appWrite('db1'));
    await stopped.driver.injectFault(db1, 'dataserver-stop');
    expect(stopped.driver.node('db2').appliedSeqno).toBe(1);
  });
});

describe('simulated MariaDB: errant transactions (gtid_strict_mode)', () => {
  it('an errant write stops the slave SQL thread when the master sends that seqno (error 1950)', async () => {
    const { clock, driver } = cluster();
    ok(driver.appWrite('db1'));
    await clock.advance(2_000);
    await driver.injectFault(db3, 'errant-write');
    expect(driver.gtidStateOf('db3')).toBe('0-1-1,0-3-2');
    expect((await driver.observe(db3)).replicator!.state).toBe('ONLINE');
    ok(driver.appWrite('db1'));
    await clock.advance(2_000);
    const rep = (await driver.observe(db3)).replicator!;
    expect(rep).toMatchObject({ state: 'FAILED', appliedSeqno: 2, appliedLatency: -1 });
    expect(driver.node('db3').replicatorError).toMatch(/1950.*0-1-2.*0-3-2/);
    // START SLAVE retries and fails again.
    await driver.setReplicator(db3, true, opts);
    expect(driver.node('db3').replicatorState).toBe('FAILED');
  });

  it('pointed at a master whose history lacks its GTIDs, the IO thread fails at once with error 1236', async () => {
    const { clock, driver } = cluster();
    ok(driver.appWrite('db1'));
    await clock.advance(2_000);
    await driver.injectFault(db3, 'errant-write');
    await driver.fenceWrites(db1, opts);
    await driver.promote(db2, opts);
    await expect(driver.replicateFrom(db3, db2, opts)).resolves.toBeUndefined();
    expect(driver.node('db3')).toMatchObject({ masterName: 'db2', replicatorState: 'FAILED' });
    expect(driver.node('db3').replicatorError).toMatch(/1236.*0-3-2.*not in the master's binlog/);
    const verdict = await driver.checkRejoin(db3, db2, opts);
    expect(verdict).toEqual({ ok: false, reason: "db3 has 1 transaction(s) (up to seqno 2) that db2 does not have: 0-3-2" });
  });

  it('checkRejoin refuses a failed master that wrote what the new master never received', async () => {
    const { clock, driver } = cluster();
    ok(driver.appWrite('db1'));
    await clock.advance(2_000);
    ok(driver.appWrite('db1'));
    ok(driver.appWrite('db1'));
    await driver.injectFault(db1, 'host-down');
    await driver.promote(db2, opts);
    ok(driver.appWrite('db2'));
    await driver.injectFault(db1, 'host-up');
    expect(driver.node('db1')).toMatchObject({ isMaster: true, readOnly: false, acceptsWrites: true });
    expect(await driver.checkRejoin(db1, db2, opts)).toEqual({ ok: false, reason: 'db1 diverged from db2 at seqno 2: db1 holds 0-1-2..0-1-3 that db2 lacks' });
    expect(await driver.checkRejoin(db3, db2, opts)).toEqual({ ok: true });
  });
});

describe('simulated MariaDB: repeatability', () => {
  it('a faulty run on a VirtualClock is exactly repeatable', async () => {
    const run = async () => {
      const { clock, driver } = cluster({ writesPerSecond: 5 });
      await clock.advance(3_300);
      await driver.injectFault(db3, 'errant-write');
      await driver.injectFault(db1, 'dataserver-freeze');
      await clock.advance(70_000);
      await driver.injectFault(db1, 'dataserver-thaw');
      await clock.advance(4_000);
      return JSON.stringify([await driver.observe(db1), await driver.observe(db2), await driver.observe(db3), driver.node('db3')]);
    };
    expect(await run()).toBe(await run());
  });
});
