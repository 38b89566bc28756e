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
