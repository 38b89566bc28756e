import { describe, expect, it } from 'vitest';
import type { ManagerAlert, ServiceStatus } from '../../src/manager/model.js';
import { Announcer, SAME_NEWS_MS } from '../../src/ui/alerts.js';
import { classicService, datasource } from '../format/model-builders.js';

const REASON = "CANNOT FOLLOW 'host1@alpha': it has transactions host1 does not have";
const before = classicService();
const host3Failed = (reason = REASON): ServiceStatus =>
  classicService({ datasources: [...before.datasources.slice(0, 2), datasource('host3', { state: 'FAILED', lastError: reason })] });
const repointFailed: ManagerAlert = {
  time: '2026-12-01T18:00:00Z',
  kind: 'repair-failed',
  datasource: 'host3',
  message: `could not repoint host3@alpha to host1: ${REASON}`,
};

function clock(): { now: () => number; pass: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, pass: (ms) => void (t += ms) };
}

describe("the shell's MANAGER lines say each piece of news once", () => {
  it('a slave that cannot follow: the alert, then the FAILED state with the same reason, is one line', () => {
    const a = new Announcer(clock().now);
    expect(a.alert(repointFailed)).toBe(`MANAGER: automatic repair FAILED: could not repoint host3@alpha to host1: ${REASON}`);
    expect(a.changes(before, host3Failed())).toEqual([]);
  });

  it('the other order: the FAILED state, then the alert that gives its reason, is one line too', () => {
    const a = new Announcer(clock().now);
    expect(a.changes(before, host3Failed())).toEqual([`MANAGER: host3 is now FAILED (${REASON})`]);
    expect(a.alert(repointFailed)).toBeNull();
  });

  it('news that differs is said: another reason, another datasource, or the same news after a while', () => {
    const c = clock();
    const a = new Announcer(c.now);
    a.alert(repointFailed);
    expect(a.changes(before, host3Failed('stopped answering'))).toEqual(['MANAGER: host3 is now FAILED (stopped answering)']);
    expect(a.alert({ ...repointFailed, datasource: 'host2' })).not.toBeNull();
    c.pass(SAME_NEWS_MS + 1);
    expect(a.changes(before, host3Failed())).toEqual([`MANAGER: host3 is now FAILED (${REASON})`]);
    c.pass(SAME_NEWS_MS + 1);
    expect(a.alert(repointFailed)).not.toBeNull();
  });

  it('changes without a reason are always said', () => {
    const a = new Announcer(clock().now);
    const failedWithoutReason = classicService({ datasources: [...before.datasources.slice(0, 2), datasource('host3', { state: 'FAILED' })] });
    const newMaster = classicService({ datasources: [datasource('host1'), datasource('host2', { role: 'master' }), before.datasources[2]!], policy: 'MAINTENANCE' });
    expect(a.changes(before, failedWithoutReason)).toEqual(['MANAGER: host3 is now FAILED']);
    expect(a.changes(before, newMaster)).toEqual(['MANAGER: the master is now host2 (was host1)', 'MANAGER: policy is now MAINTENANCE (was AUTOMATIC)']);
  });
});
