import { describe, expect, it } from 'vitest';
import { healthVerdict } from '../../src/format/health.js';
import { renderResultText } from '../../src/format/render.js';
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
