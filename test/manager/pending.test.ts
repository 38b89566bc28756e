import { describe, expect, it } from 'vitest';
import { startHarness } from './harness.js';

describe('what is coming: the countdown of a pending fault, on the virtual clock', () => {
  it('a stopped master: automatic failover in N s, exact to the second, then the failover at 0', async () => {
    const h = await startHarness();
    try {
      await h.fault('db1', 'dataserver-stop');
      expect(h.ds('db1').pendingAction ?? null).toBeNull();
      // First detected at the next sample (10 s); the rule acts (threshold 1 + 1) x 10 s later, at 30 s.
      await h.clock.advance(10_000);
      expect(h.ds('db1').pendingAction).toMatchObject({ action: 'failover', fault: 'DATASERVER STOPPED', policy: 'AUTOMATIC', inSeconds: 20 });
      await h.clock.advance(8_000);
      const pending = h.ds('db1').pendingAction!;
      expect(pending.message).toBe('db1 DATASERVER STOPPED: automatic failover in 12 s (AUTOMATIC)');
      expect(pending.inSeconds).toBe(12);
      expect(pending.dueAt).toBe(new Date(h.clock.now() + 12_000).toISOString());
      // The same frozen view between changes would be 10 s late: each read counts down.
      await h.clock.advance(1_500);
      expect(h.ds('db1').pendingAction!.inSeconds).toBe(11);
      await h.clock.advance(10_500);
      expect(h.ds('db1').state).not.toBe('ONLINE');
      expect(h.masterName()).not.toBe('db1');
    } finally {
      await h.manager.close();
    }
  });

  it('under MANUAL the master is FAILED when the interval ends, and then waits for the operator', async () => {
    const h = await startHarness(['policy.mode=MANUAL']);
    try {
      await h.fault('db1', 'dataserver-stop');
      await h.clock.advance(15_000);
      expect(h.ds('db1').pendingAction!.message).toBe("db1 DATASERVER STOPPED: FAILED in 15 s, no automatic failover (MANUAL): then run 'failover'");
      await h.clock.advance(20_000);
      expect(h.ds('db1').state).toBe('FAILED');
      expect(h.ds('db1').pendingAction).toEqual({
        action: 'none',
        fault: 'FAILED',
        policy: 'MANUAL',
        dueAt: null,
        inSeconds: null,
        message: "db1 FAILED: no automatic failover (MANUAL): run 'failover'",
      });
    } finally {
      await h.manager.close();
    }
  });

  it('a slave counts down to FAILED; MAINTENANCE says nothing will act; a healthy service has nothing pending', async () => {
    const h = await startHarness();
    try {
      expect(h.manager.serviceStatus('alpha').datasources.map((d) => d.pendingAction)).toEqual([null, null, null]);
      await h.fault('db3', 'dataserver-stop');
      await h.clock.advance(12_000);
      expect(h.ds('db3').pendingAction!.message).toBe('db3 DATASERVER STOPPED: FAILED in 18 s (AUTOMATIC)');
      await h.run({ op: 'policy', mode: 'MAINTENANCE' }, 0);
      expect(h.ds('db3').pendingAction!.message).toBe('db3 DATASERVER STOPPED: no automatic action (MAINTENANCE)');
    } finally {
      await h.manager.close();
    }
  });
});
