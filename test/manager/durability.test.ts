import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/manager/clock.js';
import type { ManagerCore } from '../../src/manager/core.js';
import type { SimulatedDriver } from '../../src/manager/drivers/simulated.js';
import { createManager } from '../../src/manager/index.js';
import { demoProperties } from '../../src/manager/properties.js';
import { STATE_FILE } from '../../src/manager/store.js';
import { lines, startHarness } from './harness.js';

const open: ManagerCore[] = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'manager-state-'));
}

async function managerOn(dir: string, clock: VirtualClock, driver?: SimulatedDriver, extra: string[] = []): Promise<ManagerCore> {
  const props = demoProperties(['simulation.stepDelayMs=0', `manager.state.dir=${dir}`, `manager.audit.log=${join(dir, 'audit.log')}`, ...extra]);
  const m = await createManager({ properties: props, clock, driver });
  open.push(m);
  return m;
}

async function runOn(m: ManagerCore, clock: VirtualClock, request: Parameters<ManagerCore['control']>[1], ms = 5000) {
  const t = m.control('alpha', request, 'tester');
  await clock.advance(ms);
  return m.task(t.taskId);
}

describe('durable state', () => {
  it('keeps policy, roles, shun reasons, errors and task history across a restart', async () => {
    const dir = tempDir();
    const clock = new VirtualClock();
    const first = await managerOn(dir, clock);
    expect((await runOn(first, clock, { op: 'switch', target: 'db3' })).state).toBe('complete');
    await runOn(first, clock, { op: 'datasource', host: 'db2', action: 'fail' });
    await runOn(first, clock, { op: 'datasource', host: 'db2', action: 'shun' });
    await runOn(first, clock, { op: 'policy', mode: 'MANUAL' });
    await first.close();

    const second = await managerOn(dir, clock);
    const status = second.serviceStatus('alpha');
    expect(status.policy).toBe('MANUAL');
    expect(status.datasources.map((d) => [d.name, d.role, d.state])).toEqual([
      ['db1', 'slave', 'ONLINE'],
      ['db2', 'slave', 'SHUNNED'],
      ['db3', 'master', 'ONLINE'],
    ]);
    expect(second.datasourceStatus('alpha', 'db2')).toMatchObject({ lastShunReason: 'MANUALLY-SHUNNED', lastError: "DATASOURCE 'db2@alpha' MANUALLY FAILED" });
    expect(second.history('alpha', 10).map((t) => t.operation)).toEqual(['set policy manual', 'datasource db2 shun', 'datasource db2 fail', 'switch to db3']);
    expect(second.history('alpha', 1).map((t) => t.operation)).toEqual(['set policy manual']);
    expect(second.history('alpha', 0)).toEqual([]);
    // A fresh simulated cluster starts in the persisted shape.
    const sim = second.driver as SimulatedDriver;
    expect(sim.node('db3')).toMatchObject({ isMaster: true, readOnly: false });
    expect(sim.node('db1')).toMatchObject({ isMaster: false, masterName: 'db3' });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')).version).toBe(1);
  });

  it('after a crash with the master fenced mid-switch, marks the task interrupted, restores the policy and gives the master its writes back', async () => {
    const dir = tempDir();
    const h = await startHarness(['simulation.stepDelayMs=200', `manager.state.dir=${dir}`]);
    const switching = h.manager.control('alpha', { op: 'switch', target: 'db3' }, 'tester');
    while (!h.driver.node('db1').readOnly) await h.clock.advance(50);
    expect(h.manager.serviceStatus('alpha').policy).toBe('MAINTENANCE');
    h.manager.halt(); // kill -9: nothing more is written, nothing more reaches the cluster
    await h.clock.advance(5_000);
    expect(h.driver.node('db3').isMaster).toBe(false);

    // Reconciling waits on the simulated cluster's step delays: let virtual time run meanwhile.
    const starting = managerOn(dir, h.clock, h.driver, ['simulation.stepDelayMs=200']);
    await h.clock.advance(2_000);
    const restarted = await starting;
    const interrupted = restarted.task(switching.taskId);
    expect(interrupted).toMatchObject({ state: 'failed', taskResult: { error: 'interrupted by manager restart' } });
    expect(lines(interrupted).at(-1)).toBe('INTERRUPTED BY MANAGER RESTART');
    expect(restarted.serviceStatus('alpha').policy).toBe('AUTOMATIC');
    expect(h.driver.node('db1')).toMatchObject({ isMaster: true, readOnly: false });
    expect(restarted.datasourceStatus('alpha', 'db1')).toMatchObject({ role: 'master', state: 'ONLINE' });
    const [reconcile] = restarted.history('alpha', 1);
    expect(reconcile).toMatchObject({ operation: 'reconcile after restart', state: 'complete' });
    expect(lines(reconcile!)).toContain("MASTER 'db1@alpha' WAS LEFT READ-ONLY: ALLOWING WRITES");
  });

  it('after a crash just past the promotion, adopts the new master the cluster shows', async () => {
    const dir = tempDir();
    const h = await startHarness(['simulation.stepDelayMs=200', `manager.state.dir=${dir}`]);
    h.manager.control('alpha', { op: 'switch', target: 'db3' }, 'tester');
    while (!h.driver.node('db3').isMaster) await h.clock.advance(50);
    h.manager.halt();

    const starting = managerOn(dir, h.clock, h.driver);
    await h.clock.advance(2_000);
    const restarted = await starting;
    expect(restarted.datasourceStatus('alpha', 'db3')).toMatchObject({ role: 'master', state: 'ONLINE' });
    expect(restarted.datasourceStatus('alpha', 'db1')).toMatchObject({ role: 'slave' });
    expect(h.driver.node('db1')).toMatchObject({ isMaster: false, masterName: 'db3', readOnly: true });
    expect(h.driver.node('db2').masterName).toBe('db3');
    expect(lines(restarted.history('alpha', 1)[0]!)[0]).toBe("'db3@alpha' ACCEPTS WRITES AND 'db1@alpha' DOES NOT: ADOPTING 'db3@alpha' AS THE MASTER");
  });

  it('after a crash mid-switch, a restarted process (fresh simulated cluster) reads a consistent state from disk', async () => {
    const dir = tempDir();
    const h = await startHarness(['simulation.stepDelayMs=200', `manager.state.dir=${dir}`]);
    const switching = h.manager.control('alpha', { op: 'switch' }, 'tester');
    await h.clock.advance(300);
    h.manager.halt();
    const saved = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'));
    expect(saved.service.policy).toBe('MAINTENANCE');
    expect(saved.service.policyToRestore).toEqual({ taskId: switching.taskId, policy: 'AUTOMATIC' });

    const restarted = await managerOn(dir, new VirtualClock());
    expect(restarted.task(switching.taskId).state).toBe('failed');
    expect(restarted.serviceStatus('alpha').policy).toBe('AUTOMATIC');
    expect(restarted.serviceStatus('alpha').datasources.find((d) => d.role === 'master')).toMatchObject({ name: 'db1', state: 'ONLINE', alertStatus: 'OK' });
  });

  it('keeps nothing on disk without manager.state.dir', async () => {
    const h = await startHarness();
    await h.run({ op: 'policy', mode: 'MANUAL' });
    open.push(h.manager);
    const again = await startHarness();
    open.push(again.manager);
    expect(again.manager.serviceStatus('alpha').policy).toBe('AUTOMATIC');
  });
});

describe('audit log', () => {
  it('records every control call: who, when, what, outcome, duration', async () => {
    const dir = tempDir();
    const clock = new VirtualClock();
    const m = await managerOn(dir, clock, undefined, ['simulation.stepDelayMs=200']);
    const sw = m.control('alpha', { op: 'switch', target: 'db2' }, 'alice');
    expect(() => m.control('alpha', { op: 'recover' }, 'bob')).toThrow(/another operation is running/);
    await clock.advance(10_000);
    expect(() => m.control('alpha', { op: 'failover' }, 'carol')).toThrow(/not FAILED/);
    const file = join(dir, 'audit.log');
    expect(existsSync(file)).toBe(true);
    const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records).toEqual([
      expect.objectContaining({ user: 'alice', operation: 'switch to db2', outcome: 'accepted', taskId: sw.taskId, request: { op: 'switch', target: 'db2' } }),
      expect.objectContaining({ user: 'bob', operation: 'recover', outcome: 'conflict', taskId: null, durationMs: 0 }),
      expect.objectContaining({ user: 'alice', operation: 'switch to db2', outcome: 'complete', taskId: sw.taskId, error: null }),
      expect.objectContaining({ user: 'carol', operation: 'failover', outcome: 'refused', error: "cannot fail over: the master 'db2@alpha' is ONLINE, not FAILED" }),
    ]);
    expect(records[2].durationMs).toBeGreaterThan(0);
    expect(records[2].time).toBe(new Date(Date.UTC(2026, 0, 1, 12, 0, 0)).toISOString());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain('password');
  });

  it('is kept beside the state when only a state directory is configured', async () => {
    const dir = tempDir();
    const clock = new VirtualClock();
    const m = await createManager({ properties: demoProperties(['simulation.stepDelayMs=0', `manager.state.dir=${dir}`]), clock });
    m.control('alpha', { op: 'policy', mode: 'MANUAL' }, 'dave');
    await clock.advance(1_000);
    const records = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records).toEqual([
      expect.objectContaining({ user: 'dave', operation: 'set policy manual', outcome: 'accepted' }),
      expect.objectContaining({ user: 'dave', operation: 'set policy manual', outcome: 'complete' }),
    ]);
    await m.close();
  });
});
