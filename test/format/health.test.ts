import { describe, expect, it } from 'vitest';
import { healthVerdict } from '../../src/format/health.js';
import { renderResultText } from '../../src/format/render.js';
import type { TaskStatus } from '../../src/manager/model.js';
import { classicService, datasource } from './model-builders.js';

describe('one health verdict on the service', () => {
  it('OK when the master takes writes and everything else is ONLINE', () => {
    expect(healthVerdict(classicService())).toEqual({ status: 'OK', line: 'HEALTH: OK: master host1 takes writes; host2, host3 ONLINE' });
  });

  it('OK but says so when automation is off', () => {
    expect(healthVerdict(classicService({ policy: 'MAINTENANCE' })).line).toBe(
      'HEALTH: OK: master host1 takes writes; host2, host3 ONLINE; policy MAINTENANCE: no automatic failover',
    );
  });

  it('DEGRADED names each datasource that is short of full service, and why', () => {
    const s = classicService();
    s.datasources[1] = datasource('host2', { alertStatus: 'DIMINISHED', alertMessage: 'REPLICATOR STOPPED' });
    s.datasources[2] = datasource('host3', { state: 'FAILED', alertStatus: 'CRITICAL', lastError: "DATASERVER 'host3@alpha' STOPPED" });
    expect(healthVerdict(s)).toEqual({
      status: 'DEGRADED',
      line: "HEALTH: DEGRADED: slave host2: REPLICATOR STOPPED; slave host3 is FAILED (DATASERVER 'host3@alpha' STOPPED); writes go to host1",
    });
  });

  it('CRITICAL while the master does not answer, with what the rules are about to do', () => {
    const s = classicService();
    s.datasources[0] = datasource('host1', {
      role: 'master',
      alertStatus: 'DIMINISHED',
      alertMessage: 'DATASERVER STOPPED',
      dataServer: { state: 'STOPPED' },
      pendingAction: { action: 'failover', fault: 'DATASERVER STOPPED', policy: 'AUTOMATIC', dueAt: '2026-01-01T00:00:12Z', inSeconds: 12, message: 'host1 DATASERVER STOPPED: automatic failover in 12 s (AUTOMATIC)' },
    });
    expect(healthVerdict(s).line).toBe('HEALTH: CRITICAL: no writes: the master host1 does not answer (DATASERVER STOPPED); automatic failover in 12 s (AUTOMATIC)');
  });

  it('CRITICAL when the master FAILED under MANUAL: run failover', () => {
    const s = classicService({ policy: 'MANUAL' });
    s.datasources[0] = datasource('host1', {
      role: 'master',
      state: 'FAILED',
      lastError: "DATASERVER 'host1@alpha' STOPPED",
      pendingAction: { action: 'none', fault: 'FAILED', policy: 'MANUAL', dueAt: null, inSeconds: null, message: "host1 FAILED: no automatic failover (MANUAL): run 'failover'" },
    });
    expect(healthVerdict(s).line).toBe(
      "HEALTH: CRITICAL: no writes: the master host1 is FAILED (DATASERVER 'host1@alpha' STOPPED); no automatic failover (MANUAL): run 'failover'",
    );
  });
});

describe('ls times', () => {
  it('are ISO-8601 UTC, as in history, unless a zone asks for the classic format', async () => {
    const { formatLs } = await import('../../src/format/ls.js');
    expect(formatLs(classicService())).toContain('|STATUS [OK] [2013-05-03T20:11:10.000Z]');
    expect(formatLs(classicService(), { timeZone: 'Europe/London' })).toContain('|STATUS [OK] [2013/05/03 09:11:10 PM BST]');
  });
});

describe('what follows the last box of ls', () => {
  const pendingService = () => {
    const s = classicService();
    s.datasources[0] = datasource('host1', {
      role: 'master',
      dataServer: { state: 'STOPPED' },
      alertStatus: 'DIMINISHED',
      alertMessage: 'DATASERVER STOPPED',
      pendingAction: { action: 'failover', fault: 'DATASERVER STOPPED', policy: 'AUTOMATIC', dueAt: '2026-01-01T00:00:12Z', inSeconds: 12, message: 'host1 DATASERVER STOPPED: automatic failover in 12 s (AUTOMATIC)' },
    });
    return s;
  };

  it('a blank line, the countdown, then the verdict as the last line', () => {
    const text = renderResultText({ kind: 'ls', status: pendingService(), detailed: false, host: null }, { timeZone: 'UTC' });
    const tail = text.split('\n').slice(-4);
    expect(tail).toEqual([
      '',
      'host1 DATASERVER STOPPED: automatic failover in 12 s (AUTOMATIC)',
      'HEALTH: CRITICAL: no writes: the master host1 does not answer (DATASERVER STOPPED); automatic failover in 12 s (AUTOMATIC)',
      '',
    ]);
    expect(text.split('\n').at(-5)).toMatch(/^\+-+\+$/);
  });

  it('no line after the boxes looks like a box row, so parsers of the boxes read them as before', () => {
    const text = renderResultText({ kind: 'ls', status: pendingService(), detailed: false, host: null }, { timeZone: 'UTC' });
    const lines = text.split('\n');
    const lastBox = lines.findLastIndex((l) => /^\+-+\+$/.test(l));
    for (const line of lines.slice(lastBox + 1)) expect(line).not.toMatch(/^[+|]/);
  });
});

describe('history', () => {
  const task = (patch: Partial<TaskStatus>): TaskStatus => ({
    taskId: 'a1b2c3',
    service: 'alpha',
    operation: 'switch',
    requestedBy: 'manager',
    state: 'complete',
    startTime: '2026-01-01T10:00:00.000Z',
    endTime: '2026-01-01T10:00:03.200Z',
    steps: [{ time: '2026-01-01T10:00:00.000Z', line: 'SET POLICY: AUTOMATIC => MAINTENANCE' }],
    taskResult: null,
    ...patch,
  });

  it('one row per task: outcome, duration, who started it, and why a failed one failed', () => {
    const text = renderResultText({
      kind: 'history',
      service: 'alpha',
      tasks: [
        task({ taskId: 'f00d', state: 'failed', requestedBy: 'ops', operation: 'failover', endTime: '2026-01-01T10:02:05.000Z', taskResult: { error: 'no eligible slave: db2 lags 30 s' } }),
        task({ state: 'in_progress', endTime: null }),
      ],
    });
    expect(text.split('\n')).toEqual([
      'TASK    STARTED                   DURATION   OUTCOME  BY       OPERATION  REASON',
      'f00d    2026-01-01T10:00:00.000Z  2 min 5 s  FAILED   ops      failover   no eligible slave: db2 lags 30 s',
      'a1b2c3  2026-01-01T10:00:00.000Z  running    running  manager  switch',
      '',
    ]);
  });

  it('history TASKID: the whole step log with times, outcome and reason', () => {
    const text = renderResultText({ kind: 'task-log', task: task({ state: 'failed', taskResult: { error: 'interrupted by manager restart' } }) });
    expect(text).toBe(
      [
        'TASK a1b2c3: switch',
        'SERVICE: alpha',
        'REQUESTED BY: manager',
        'STARTED: 2026-01-01T10:00:00.000Z',
        'ENDED: 2026-01-01T10:00:03.200Z',
        'DURATION: 3.2 s',
        'OUTCOME: FAILED: interrupted by manager restart',
        'STEPS (1):',
        '  2026-01-01T10:00:00.000Z  SET POLICY: AUTOMATIC => MAINTENANCE',
        'RESULT: {"error":"interrupted by manager restart"}',
        '',
      ].join('\n'),
    );
  });
});
