/**
 * The invariant checker's judgement of the manager's view when its own probes of a server go
 * unanswered (a loaded machine): no verdict from what it could not see, the same verdicts as
 * before from what it did see.
 */
import { describe, expect, it } from 'vitest';
import { InvariantChecker, type ManagerSnapshot, type ServerSnapshot } from './checker.js';

const view: ManagerSnapshot = {
  policy: 'AUTOMATIC',
  taskRunning: false,
  datasources: [
    { name: 'db1', role: 'master', state: 'ONLINE' },
    { name: 'db2', role: 'slave', state: 'ONLINE' },
  ],
};

function judge(db1: Partial<ServerSnapshot>, db2: Partial<ServerSnapshot>): string[] {
  const checker = new InvariantChecker({ seed: 1, startedAt: 0, samplePeriodMs: 500, dbDetectMs: 1000, hostDetectMs: 1500, observationTimeoutMs: 3000 });
  const servers: ServerSnapshot[] = [
    { name: 'db1', acceptsWrites: true, down: 'no', following: null, ...db1 },
    { name: 'db2', acceptsWrites: false, down: 'no', following: 'db1', ...db2 },
  ];
  for (let t = 0; t <= 10_000; t += 500) checker.checkView(t, servers, view);
  return checker.finish(10_000).map((v) => v.kind);
}

describe('the checker and a server it cannot see', () => {
  it('flags a master that does not take writes, and a slave that follows nobody, when it sees them', () => {
    expect(judge({ acceptsWrites: false }, {})).toEqual(['master-not-writable']);
    expect(judge({}, { following: null })).toEqual(['slave-follows-other']);
  });

  it('judges neither while its own probe of that server gets no answer', () => {
    expect(judge({ acceptsWrites: false, seen: false }, {})).toEqual([]);
    expect(judge({}, { following: null, seen: false })).toEqual([]);
  });
});

/**
 * Seed 981776 of the real single-manager tier: db1 (the master) frozen and failed over to db2; the
 * application's write that waited on db1 was acknowledged the moment db1 was thawed, after the
 * failover had ended. That tier recorded every write as the master's, so it was flagged as lost;
 * the group tier and the simulated one already judged it as the checker says (invariant 1's window).
 */
describe('the checker and a write the master of the moment did not acknowledge', () => {
  function lostWrites(record: (checker: InvariantChecker) => void): string[] {
    const checker = new InvariantChecker({ seed: 1, startedAt: 0, samplePeriodMs: 500, dbDetectMs: 1000, hostDetectMs: 1500, observationTimeoutMs: 3000 });
    checker.addLossWindow({ oldPrimary: 'db1', newPrimary: 'db2', mayLoseTransactions: 0, lastSeenSeqno: 12902, lastSeenAt: 0, keptSeqno: 12902, endedAt: 7400 });
    record(checker);
    checker.checkWrites(18_600, 'db2', () => false);
    return checker.finish(18_600).map((v) => v.kind);
  }
  const write = { id: '0-1-12904', seqno: 12904, server: 'db1', at: 7800, gtid: '0-1-12904' };

  it('one the old master took in its come-back grace, after the failover ended, is not a lost write', () => {
    expect(lostWrites((c) => (c.serverReturned('db1', 7800), c.recordAcknowledged(write, 'db2')))).toEqual([]);
  });

  it('nor is one from another server than the master of the moment; one the master itself took is lost', () => {
    expect(lostWrites((c) => c.recordAcknowledged(write, 'db2'))).toEqual([]);
    expect(lostWrites((c) => c.recordAcknowledged(write, 'db1'))).toEqual(['lost-write']);
  });
});
