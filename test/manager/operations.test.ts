import { formatLs } from '../../src/format/ls.js';
import { afterEach, describe, expect, it } from 'vitest';
import { lines, startHarness, type Harness } from './harness.js';
import { toolkitErrorOf } from '../helpers/toolkit-error.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.manager.close();
  h = undefined;
});


describe('switch', () => {
  it('logs the cctrl step lines and swaps the roles', async () => {
    h = await startHarness();
    await h.clock.advance(10_000);
    const task = await h.run({ op: 'switch', target: 'db3' });
    expect(task.state).toBe('complete');
    expect(task.taskResult).toEqual({ newPrimary: 'db3', oldPrimary: 'db1' });
    const log = lines(task);
    expect(log[0]).toBe('SET POLICY: AUTOMATIC => MAINTENANCE');
    expect(log[1]).toMatch(/^EVALUATING SLAVE: db3\(stored=\d+, applied=\d+, latency=\d+\.\d{3}, datasource-group-id=0\)$/);
    expect(log.slice(2, 9)).toEqual([
      'SELECTED SLAVE: db3@alpha',
      "PURGE REMAINING ACTIVE SESSIONS ON CURRENT MASTER 'db1@alpha'",
      expect.stringMatching(/^PURGED A TOTAL OF \d+ ACTIVE SESSIONS ON MASTER 'db1@alpha'$/),
      "FLUSH TRANSACTIONS ON CURRENT MASTER 'db1@alpha'",
      "PUT THE NEW MASTER 'db3@alpha' ONLINE",
      "PUT THE PRIOR MASTER 'db1@alpha' ONLINE AS A SLAVE",
      "SLAVE 'db2@alpha' NOW REPLICATES FROM 'db3@alpha'",
    ]);
    expect(log.slice(-2)).toEqual(["SWITCH TO 'db3@alpha' WAS SUCCESSFUL", 'REVERT POLICY: MAINTENANCE => AUTOMATIC']);
    expect(h.ds('db3')).toMatchObject({ role: 'master', state: 'ONLINE' });
    expect(h.ds('db1')).toMatchObject({ role: 'slave', state: 'ONLINE', replicator: { masterHost: 'db3' } });
    expect(h.driver.node('db2').masterName).toBe('db3');
    expect(h.driver.node('db1').readOnly).toBe(true);
    expect(h.driver.node('db3').readOnly).toBe(false);
    expect(h.manager.serviceStatus('alpha').policy).toBe('AUTOMATIC');
    // No transaction was lost: the new master holds everything the old one wrote.
    expect(h.driver.node('db3').appliedSeqno).toBeGreaterThanOrEqual(h.driver.node('db1').appliedSeqno);
  });

  it('without a target evaluates every slave and picks the most up to date', async () => {
    h = await startHarness(['simulation.writesPerSecond=0']);
    await h.run({ op: 'replicator', host: 'db2', action: 'offline' });
    await h.run({ op: 'heartbeat' });
    await h.clock.advance(10_000);
    const task = await h.run({ op: 'switch' });
    expect(lines(task).filter((l) => l.startsWith('EVALUATING SLAVE') || l.includes('NOT ELIGIBLE'))).toEqual([
      'EVALUATING SLAVE: db3(stored=1, applied=1, latency=0.' + lines(task)[1]!.split('latency=0.')[1],
      "SLAVE 'db2@alpha' IS NOT ELIGIBLE: replicator OFFLINE",
    ]);
    expect(task.taskResult).toMatchObject({ newPrimary: 'db3' });
  });

  it('dry run lists every candidate and why, and changes nothing', async () => {
    h = await startHarness();
    await h.run({ op: 'datasource', host: 'db2', action: 'shun' });
    const task = await h.run({ op: 'switch', dryRun: true });
    expect(task.state).toBe('complete');
    expect(lines(task)).toEqual([
      expect.stringMatching(/^EVALUATING SLAVE: db3\(/),
      "SLAVE 'db2@alpha' IS NOT ELIGIBLE: SHUNNED",
      "DRY RUN: WOULD SWITCH TO 'db3@alpha'; NOTHING WAS CHANGED",
    ]);
    expect(task.taskResult).toMatchObject({
      dryRun: true,
      wouldSelect: 'db3',
      candidates: [
        expect.objectContaining({ name: 'db3', eligible: true, appliedSeqno: expect.any(Number), storedSeqno: expect.any(Number) }),
        expect.objectContaining({ name: 'db2', eligible: false, reason: 'SHUNNED' }),
      ],
    });
    expect(h.masterName()).toBe('db1');
    expect(h.driver.node('db1').readOnly).toBe(false);
    expect(h.manager.serviceStatus('alpha').policy).toBe('AUTOMATIC');
  });

  it('fails with the reason per candidate when no slave is eligible, and reverts the policy', async () => {
    h = await startHarness();
    await h.run({ op: 'datasource', host: 'db2', action: 'shun' });
    await h.run({ op: 'datasource', host: 'db3', action: 'shun' });
    const task = await h.run({ op: 'switch' });
    expect(task).toMatchObject({ state: 'failed', taskResult: { error: 'no eligible slave: db2 SHUNNED; db3 SHUNNED' } });
    expect(lines(task).at(-1)).toBe('REVERT POLICY: MAINTENANCE => AUTOMATIC');
    expect(h.manager.serviceStatus('alpha').policy).toBe('AUTOMATIC');
  });

  it('switch to the failed-over old master is refused with its state, not as "the service has no slave"', async () => {
    h = await startHarness();
    await h.fault('db1', 'dataserver-stop');
    await h.clock.advance(30_000);
    expect(h.masterName()).toBe('db2');
    await h.fault('db1', 'dataserver-start');
    const dryRun = await h.run({ op: 'switch', target: 'db1', dryRun: true });
    expect(lines(dryRun)).toEqual(["SLAVE 'db1@alpha' IS NOT ELIGIBLE: SHUNNED", 'DRY RUN: NO ELIGIBLE SLAVE: DB1 SHUNNED; NOTHING WAS CHANGED']);
    expect(dryRun.taskResult).toMatchObject({ candidates: [expect.objectContaining({ name: 'db1', eligible: false, reason: 'SHUNNED' })] });
    const task = await h.run({ op: 'switch', target: 'db1' });
    expect(task).toMatchObject({ state: 'failed', taskResult: { error: 'no eligible slave: db1 SHUNNED' } });
    const other = await h.run({ op: 'switch' });
    expect(other.taskResult).toMatchObject({ newPrimary: 'db3' });
  });

  it('puts the old master back when promotion fails', async () => {
    h = await startHarness();
    h.driver.failNext('promote', 'db3', 'promotion refused by the server');
    const task = await h.run({ op: 'switch', target: 'db3' });
    expect(task.state).toBe('failed');
    expect(task.taskResult).toEqual({ error: "switch to 'db3@alpha' failed and was reverted: promotion refused by the server" });
    expect(lines(task)).toContain("SWITCH TO 'db3@alpha' FAILED: promotion refused by the server");
    expect(lines(task)).toContain("PUT THE PRIOR MASTER 'db1@alpha' BACK ONLINE");
    expect(h.masterName()).toBe('db1');
    expect(h.driver.node('db1')).toMatchObject({ isMaster: true, readOnly: false });
    expect(h.driver.node('db3')).toMatchObject({ isMaster: false, masterName: 'db1' });
    expect(h.manager.serviceStatus('alpha').policy).toBe('AUTOMATIC');
  });

  it('does not claim a revert that failed: the old master left read-only is named', async () => {
    h = await startHarness();
    h.driver.failNext('promote', 'db3', 'promotion refused by the server');
    h.driver.failNext('allowWrites', 'db1', 'lost connection to the server');
    const task = await h.run({ op: 'switch', target: 'db3' });
    expect(task.state).toBe('failed');
    expect(task.taskResult).toEqual({
      error:
        "switch to 'db3@alpha' failed: promotion refused by the server; the revert did not complete (allowing writes on db1: lost connection to the server): check the service with ls",
    });
    expect(lines(task)).toContain("COULD NOT PUT THE PRIOR MASTER 'db1@alpha' BACK ONLINE: lost connection to the server");
  });

  it('repoints the promoted slave when making the old master a slave fails', async () => {
    h = await startHarness();
    h.driver.failNext('replicateFrom', 'db1', 'cannot configure replication');
    const task = await h.run({ op: 'switch', target: 'db3' });
    expect(task.state).toBe('failed');
    expect(lines(task)).toContain("REPOINT 'db3@alpha' TO REPLICATE FROM 'db1@alpha'");
    expect(h.driver.node('db3')).toMatchObject({ isMaster: false, masterName: 'db1', readOnly: true });
    expect(h.driver.node('db1')).toMatchObject({ isMaster: true, readOnly: false });
    expect(h.ds('db1')).toMatchObject({ role: 'master', state: 'ONLINE' });
  });

  it('refuses to switch to the master itself or an unknown datasource', () => {
    return (async () => {
      h = await startHarness();
      expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'switch', target: 'db1' }, 't')).message).toBe("'db1@alpha' is already the master");
      expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'switch', target: 'db9' }, 't')).kind).toBe('not_found');
    })();
  });
});

describe('failover', () => {
  it('is refused while the master is not FAILED', async () => {
    h = await startHarness();
    const e = toolkitErrorOf(() => h!.manager.control('alpha', { op: 'failover' }, 'tester'));
    expect(e.kind).toBe('refused');
    expect(e.message).toBe("cannot fail over: the master 'db1@alpha' is ONLINE, not FAILED");
    expect(e.hint).toMatch(/switch/);
  });

  it('promotes the named slave when the master is FAILED (MANUAL) and shuns the old master', async () => {
    h = await startHarness(['policy.mode=manual']);
    await h.fault('db1', 'dataserver-stop');
    await h.clock.advance(30_000);
    expect(h.ds('db1').state).toBe('FAILED');
    const task = await h.run({ op: 'failover', target: 'db2' });
    expect(task).toMatchObject({ state: 'complete', taskResult: { newPrimary: 'db2' } });
    expect(lines(task)).toEqual(
      expect.arrayContaining(['SET POLICY: MANUAL => MAINTENANCE', 'SELECTED SLAVE: db2@alpha', "FAILOVER TO 'db2@alpha' WAS SUCCESSFUL", 'REVERT POLICY: MAINTENANCE => MANUAL']),
    );
    expect(h.ds('db1')).toMatchObject({ state: 'SHUNNED', lastShunReason: 'FAILED-OVER-TO-db2' });
    expect(h.driver.node('db3').masterName).toBe('db2');
  });
});

describe('recover', () => {
  it('brings the failed-over master back as a slave of the new master', async () => {
    h = await startHarness();
    await h.fault('db1', 'dataserver-stop');
    await h.clock.advance(30_000);
    const newMaster = h.masterName()!;
    expect(newMaster).not.toBe('db1');
    await h.fault('db1', 'dataserver-start');
    const task = await h.run({ op: 'recover' });
    expect(task.state).toBe('complete');
    expect(lines(task)).toEqual([
      "RECOVERING DATASERVICE 'alpha'",
      'SET POLICY: AUTOMATIC => MAINTENANCE',
      "FOUND PHYSICAL DATASOURCE TO RECOVER: 'db1@alpha'",
      "RECOVERING DATASOURCE 'db1@alpha'",
      "VERIFYING THAT WE CAN CONNECT TO DATA SERVER 'db1'",
      "DATA SERVER 'db1' IS NOW AVAILABLE FOR CONNECTIONS",
      "Verified that DB server notification 'db1' is in state 'ONLINE'",
      `RECOVERING 'db1@alpha' TO A SLAVE USING '${newMaster}@alpha' AS THE MASTER`,
      "SETTING THE ROLE OF DATASOURCE 'db1@alpha' FROM 'master' TO 'slave'",
      "RECOVERY OF DATA SERVICE 'alpha' SUCCEEDED",
      'REVERT POLICY: MAINTENANCE => AUTOMATIC',
      "RECOVERED 1 DATA SOURCES IN SERVICE 'alpha'",
    ]);
    expect(h.ds('db1')).toMatchObject({ role: 'slave', state: 'ONLINE', lastShunReason: null });
    expect(h.driver.node('db1')).toMatchObject({ isMaster: false, masterName: newMaster });
  });

  it('rejoins the failed-over master restarted a while before the recover: applications no longer write to it', async () => {
    h = await startHarness();
    await h.fault('db1', 'dataserver-stop');
    await h.clock.advance(30_000);
    const newMaster = h.masterName()!;
    expect(newMaster).not.toBe('db1');
    const seqno = h.driver.node('db1').appliedSeqno;
    await h.fault('db1', 'dataserver-start');
    await h.clock.advance(60_000); // the operator reads ls, then types the recover
    expect(h.driver.node('db1').appliedSeqno).toBe(seqno);
    const task = await h.run({ op: 'datasource', host: 'db1', action: 'recover' });
    expect(task.state).toBe('complete');
    expect(h.ds('db1')).toMatchObject({ role: 'slave', lastShunReason: null });
    expect(h.driver.node('db1')).toMatchObject({ isMaster: false, masterName: newMaster });
  });

  it('refuses to rejoin a master that has transactions the new master lacks', async () => {
    h = await startHarness(['simulation.writesPerSecond=10']);
    await h.clock.advance(1_050); // just after a write the slaves have not received yet
    await h.fault('db1', 'host-down');
    await h.clock.advance(40_000);
    expect(h.ds('db1').state).toBe('SHUNNED');
    await h.fault('db1', 'host-up');
    const task = await h.run({ op: 'recover' });
    expect(task.state).toBe('failed');
    expect(String(task.taskResult?.error)).toMatch(/could not recover db1: cannot rejoin 'db[23]@alpha': db1 diverged from db[23] at seqno \d+/);
    expect(h.ds('db1').state).toBe('SHUNNED');
  });
});

describe('a master taken OFFLINE', () => {
  it('switch, failover, recover and heartbeat all point to the command that brings it back, not to each other', async () => {
    h = await startHarness();
    expect(lines(await h.run({ op: 'datasource', host: 'db1', action: 'offline' }))).toEqual(["DataSource 'db1' is now OFFLINE"]);
    const hint = "It is OFFLINE: bring it back with 'datasource db1 online'.";
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'switch' }, 't'))).toMatchObject({ message: "cannot switch: the master 'db1@alpha' is OFFLINE", hint });
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'failover' }, 't'))).toMatchObject({ hint });
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'recover' }, 't'))).toMatchObject({ hint });
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'heartbeat' }, 't'))).toMatchObject({ hint });
    await h.run({ op: 'datasource', host: 'db1', action: 'online' });
    expect(h.ds('db1')).toMatchObject({ role: 'master', state: 'ONLINE' });
  });

  it('a FAILED master still points to failover', async () => {
    h = await startHarness(['policy.mode=manual']);
    await h.fault('db1', 'dataserver-stop');
    await h.clock.advance(30_000);
    expect(h.ds('db1').state).toBe('FAILED');
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'switch' }, 't')).hint).toBe("Use 'failover'.");
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'recover' }, 't')).hint).toBe("Use 'failover'.");
  });
});

describe('datasource transitions', () => {
  it('allows the legal ones with cctrl lines', async () => {
    h = await startHarness();
    expect(lines(await h.run({ op: 'datasource', host: 'db2', action: 'shun' }))).toEqual(["DataSource 'db2' set to SHUNNED"]);
    expect(h.ds('db2')).toMatchObject({ state: 'SHUNNED', lastShunReason: 'MANUALLY-SHUNNED', alertStatus: 'SHUNNED' });
    expect(lines(await h.run({ op: 'datasource', host: 'db2', action: 'welcome' }))).toEqual(["DataSource 'db2' is now ONLINE"]);
    expect(lines(await h.run({ op: 'datasource', host: 'db2', action: 'offline' }))).toEqual(["DataSource 'db2' is now OFFLINE"]);
    await h.clock.advance(60_000);
    expect(h.ds('db2')).toMatchObject({ state: 'OFFLINE', alertStatus: 'WARN' });
    expect(lines(await h.run({ op: 'datasource', host: 'db2', action: 'online' }))).toEqual(["DataSource 'db2' is now ONLINE"]);
    expect(lines(await h.run({ op: 'datasource', host: 'db2', action: 'fail' }))).toEqual(["DataSource 'db2' set to FAILED"]);
    expect(h.ds('db2')).toMatchObject({ state: 'FAILED', alertStatus: 'CRITICAL' });
    await h.clock.advance(60_000);
    expect(h.ds('db2').state).toBe('FAILED'); // failed by an operator: no rule brings it back
    const recovered = await h.run({ op: 'datasource', host: 'db2', action: 'recover' });
    expect(lines(recovered).at(-1)).toBe("RECOVERY OF 'db2@alpha' WAS SUCCESSFUL");
    expect(h.ds('db2').state).toBe('ONLINE');
  });

  it('refuses illegal ones as a conflict naming the current state', async () => {
    h = await startHarness();
    await h.run({ op: 'datasource', host: 'db2', action: 'shun' });
    const e = toolkitErrorOf(() => h!.manager.control('alpha', { op: 'datasource', host: 'db2', action: 'online' }, 't'));
    expect(e.kind).toBe('conflict');
    expect(e.message).toBe("cannot online datasource 'db2@alpha': it is SHUNNED");
    expect(e.hint).toMatch(/welcome/);
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'datasource', host: 'db3', action: 'recover' }, 't')).message).toBe(
      "cannot recover datasource 'db3@alpha': it is ONLINE",
    );
    // online and welcome on an ONLINE datasource are done already: complete, with a note, nothing changed.
    for (const action of ['online', 'welcome'] as const) {
      const t = h.manager.control('alpha', { op: 'datasource', host: 'db3', action }, 't');
      expect(t.state).toBe('complete');
      expect(lines(t)).toEqual(["DataSource 'db3' is already ONLINE: nothing to do"]);
    }
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'datasource', host: 'db1', action: 'shun' }, 't')).message).toBe(
      "cannot shun datasource 'db1@alpha': it is the ONLINE master",
    );
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'datasource', host: 'db9', action: 'shun' }, 't')).kind).toBe('not_found');
  });
});

describe('other operations', () => {
  it('set policy completes at once with the line scripts grep for', async () => {
    h = await startHarness();
    const task = h.manager.control('alpha', { op: 'policy', mode: 'MAINTENANCE' }, 'tester');
    expect(task.state).toBe('complete');
    expect(lines(task)).toEqual(['policy mode is now MAINTENANCE']);
    expect(h.manager.serviceStatus('alpha').policy).toBe('MAINTENANCE');
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'policy', mode: 'SOMETIMES' as never }, 't')).kind).toBe('usage');
  });

  it('cluster heartbeat writes through the master; replicator offline/online reach the driver', async () => {
    h = await startHarness(['simulation.writesPerSecond=0']);
    const hb = await h.run({ op: 'heartbeat' });
    expect(lines(hb)).toEqual(["HEARTBEAT SENT THROUGH MASTER 'db1@alpha' AT SEQNO 1"]);
    await h.run({ op: 'replicator', host: 'db2', action: 'offline' });
    expect(h.driver.node('db2').replicatorRunning).toBe(false);
    // Stopped on purpose: OFFLINE, as the task said, not STOPPED as after a crash.
    expect(h.ds('db2')).toMatchObject({ state: 'ONLINE', alertStatus: 'DIMINISHED', alertMessage: 'REPLICATOR OFFLINE' });
    await h.clock.advance(10_000);
    expect(h.ds('db2').replicator).toMatchObject({ state: 'OFFLINE', role: 'slave', masterHost: 'db1' });
    expect(formatLs(h.manager.serviceStatus('alpha'), { host: 'db2' })).toContain('|  REPLICATOR(role=slave, master=db1, state=OFFLINE)');
    await h.run({ op: 'replicator', host: 'db2', action: 'online' });
    expect(h.driver.node('db2').replicatorRunning).toBe(true);
    await h.fault('db2', 'replicator-stop');
    await h.clock.advance(10_000);
    expect(h.ds('db2').replicator?.state).toBe('STOPPED');
  });

  it('one control operation per service at a time: a second one is a conflict naming the first', async () => {
    h = await startHarness(['simulation.stepDelayMs=200']);
    const first = h.manager.control('alpha', { op: 'switch' }, 'alice');
    const e = toolkitErrorOf(() => h!.manager.control('alpha', { op: 'recover' }, 'bob'));
    expect(e.kind).toBe('conflict');
    expect(e.message).toBe(`another operation is running on service 'alpha': task ${first.taskId} (switch, requested by alice)`);
    expect(toolkitErrorOf(() => h!.manager.control('alpha', { op: 'policy', mode: 'MANUAL' }, 'bob')).kind).toBe('conflict');
    // Freezing automation mid-incident is always taken.
    expect(h.manager.control('alpha', { op: 'policy', mode: 'MAINTENANCE' }, 'bob').state).toBe('complete');
    // Fault injection is not an operation on the service: it may happen during one.
    expect(h.manager.control('alpha', { op: 'fault', host: 'db2', fault: 'replicator-stop' }, 'bob').state).not.toBe('failed');
    await h.clock.advance(10_000);
    expect(h.manager.task(first.taskId).state).toBe('complete');
    // The switch held MAINTENANCE and would have put AUTOMATIC back: the operator's freeze stands.
    expect(lines(h.manager.task(first.taskId))).toContain('POLICY STAYS MAINTENANCE (SET BY AN OPERATOR DURING THE OPERATION)');
    expect(lines(h.manager.task(first.taskId)).join('\n')).not.toContain('REVERT POLICY');
    expect(h.manager.serviceStatus('alpha').policy).toBe('MAINTENANCE');
    expect(h.manager.control('alpha', { op: 'policy', mode: 'MANUAL' }, 'bob').state).toBe('complete');
  });

  it('automatic failover takes the lock too: it waits for a running operation', async () => {
    h = await startHarness(['simulation.stepDelayMs=15000']);
    await h.fault('db1', 'dataserver-stop'); // detected at 10 s, due at 30 s
    await h.clock.advance(25_000);
    const slow = h.manager.control('alpha', { op: 'replicator', host: 'db2', action: 'offline' }, 'tester'); // until 40 s
    await h.clock.advance(5_000);
    expect(h.ds('db1').state).toBe('FAILED');
    expect(h.masterName()).toBe('db1');
    await h.clock.advance(10_000);
    expect(h.manager.task(slow.taskId).state).toBe('complete');
    const [failover] = h.manager.history('alpha', 1);
    await h.clock.advance(120_000);
    expect(h.masterName()).toBe('db3');
    expect(failover!.operation).toBe('failover');
    expect(Date.parse(failover!.startTime)).toBeGreaterThanOrEqual(Date.parse(h.manager.task(slow.taskId).endTime!));
  });

  it('publishes task steps, task ends and state changes', async () => {
    h = await startHarness();
    const events: string[] = [];
    const off = h.manager.subscribe((e) => events.push(e.type === 'task-step' ? `step:${e.step.line}` : e.type));
    await h.run({ op: 'datasource', host: 'db2', action: 'shun' });
    off();
    expect(events).toContain("step:DataSource 'db2' set to SHUNNED");
    expect(events).toContain('task-end');
    expect(events).toContain('state');
  });
});
