/**
 * kill -9 in the middle of a switch: the state file is always whole, and a restart comes back with
 * the policy, roles, shun reasons and task history intact and the interrupted task failed.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManagerClient } from '../../src/api/index.js';
import type { ServiceStatus } from '../../src/manager/model.js';
import type { TaskStatus } from '../../src/manager/model.js';
import { spawnManager, type ManagerProcess } from '../helpers/manager-process.js';

const demo = { user: 'tungsten', password: 'secret' };
const started: ManagerProcess[] = [];
const clients: ManagerClient[] = [];

afterEach(() => {
  for (const p of started.splice(0)) p.kill();
  for (const c of clients.splice(0)) c.close();
});

async function startManager(stateDir: string): Promise<{ process: ManagerProcess; client: ManagerClient }> {
  const p = spawnManager(['--demo', '--port', '0', '--state-dir', stateDir, '--property=simulation.stepDelayMs=300']);
  started.push(p);
  const client = new ManagerClient({ url: await p.ready, ...demo });
  clients.push(client);
  return { process: p, client };
}

function readState(stateDir: string): any {
  const text = readFileSync(join(stateDir, 'manager-state.json'), 'utf8');
  return JSON.parse(text); // throws on a half-written file
}

function expectConsistent(status: Pick<ServiceStatus, 'datasources'>): string {
  const masters = status.datasources.filter((d) => d.role === 'master');
  expect(masters).toHaveLength(1);
  const master = masters[0]!.name;
  for (const d of status.datasources) {
    if (d.role === 'slave' && d.state === 'ONLINE') expect(d.replicator?.masterHost).toBe(master);
  }
  return master;
}

describe('tungsten-manager killed with SIGKILL mid-switch', () => {
  it('restarts with its state intact and the interrupted switch failed', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mgr-state-'));
    let { process: p, client } = await startManager(stateDir);

    const shun = await client.datasource('alpha', 'db3', 'shun');
    expect((await client.waitForTask(shun.taskId)).state).toBe('complete');
    const switchTask = await client.switch('alpha', { target: 'db2' });
    // Kill as soon as the switch has visibly started (policy held at MAINTENANCE).
    await new Promise<void>((resolve) => {
      void client
        .waitForTask(switchTask.taskId, { onStep: (s) => s.line.startsWith('SELECTED SLAVE') && resolve() })
        .catch(() => undefined);
    });
    p.child.kill('SIGKILL');
    expect((await p.exited).signal).toBe('SIGKILL');

    const onDisk = readState(stateDir);
    expect(onDisk.service.policy).toBe('MAINTENANCE'); // caught mid-operation
    expect(onDisk.tasks.find((t: TaskStatus) => t.taskId === switchTask.taskId).state).toBe('in_progress');

    ({ process: p, client } = await startManager(stateDir));
    const status = await client.serviceStatus('alpha');
    expect(status.policy).toBe('AUTOMATIC'); // the interrupted switch's MAINTENANCE is undone
    expectConsistent(status);
    const db3 = status.datasources.find((d) => d.name === 'db3')!;
    expect([db3.state, db3.lastShunReason]).toEqual(['SHUNNED', 'MANUALLY-SHUNNED']);

    const { tasks } = await client.history('alpha');
    expect(tasks.map((t) => [t.operation, t.state])).toEqual([
      ['switch to db2', 'failed'],
      ['datasource db3 shun', 'complete'],
    ]);
    const interrupted = tasks[0]!;
    expect(interrupted.taskId).toBe(switchTask.taskId);
    expect(interrupted.endTime).not.toBeNull();
    expect(interrupted.taskResult).toMatchObject({ error: expect.stringMatching(/interrupted/i) });
    expect(interrupted.steps.map((s) => s.line)).toContain('SELECTED SLAVE: db2@alpha');

    // And the restarted manager works: the switch can be done now.
    const again = await client.switch('alpha', { target: 'db2' });
    expect((await client.waitForTask(again.taskId, { timeoutMs: 15_000 })).state).toBe('complete');
    expect(expectConsistent(await client.serviceStatus('alpha'))).toBe('db2');
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    expect(readState(stateDir).service.policy).toBe('AUTOMATIC');
  });

  it('never leaves a half-written state file, whenever the kill lands', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mgr-state-'));
    for (const delayMs of [0, 5, 40, 250, 700]) {
      const { process: p, client } = await startManager(stateDir);
      const before = (await client.history('alpha', 1000)).tasks.length;
      const task = await client.switch('alpha');
      await new Promise((r) => setTimeout(r, delayMs));
      p.child.kill('SIGKILL');
      await p.exited;
      const state = readState(stateDir);
      expect(state.version).toBe(1);
      expect(state.tasks.some((t: TaskStatus) => t.taskId === task.taskId)).toBe(true);

      const restarted = await startManager(stateDir);
      const status = await restarted.client.serviceStatus('alpha');
      expect(status.policy).toBe('AUTOMATIC');
      expectConsistent(status);
      const { tasks } = await restarted.client.history('alpha', 1000);
      expect(tasks).toHaveLength(before + 1);
      expect(tasks.every((t) => t.state !== 'in_progress')).toBe(true);
      restarted.process.child.kill('SIGTERM');
      expect((await restarted.process.exited).code).toBe(0);
    }
    expect(readdirSync(stateDir).filter((f) => f.endsWith('.json'))).toEqual(['manager-state.json']);
    // Ten manager processes started one after the other: seconds each on a loaded machine.
  }, 90_000);

  it('leaves the audit line of a control call it was carrying out, and keeps audit.log and its state 0600', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mgr-state-'));
    const { process: p, client } = await startManager(stateDir);
    const switchTask = await client.switch('alpha', { target: 'db2' });
    await new Promise<void>((resolve) => {
      void client
        .waitForTask(switchTask.taskId, { onStep: (s) => s.line.startsWith('SELECTED SLAVE') && resolve() })
        .catch(() => undefined);
    });
    p.child.kill('SIGKILL');
    expect((await p.exited).signal).toBe('SIGKILL');

    const auditFile = join(stateDir, 'audit.log');
    const lines = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      expect.objectContaining({ user: 'tungsten', operation: 'switch to db2', outcome: 'accepted', taskId: switchTask.taskId, request: { op: 'switch', target: 'db2' } }),
    ]);
    expect(statSync(auditFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'manager-state.json')).mode & 0o777).toBe(0o600);
  });
});
