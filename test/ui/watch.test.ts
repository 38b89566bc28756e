import { describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../src/manager/model.js';
import { AutomaticTaskWatcher, TaskWatcher } from '../../src/ui/watch.js';

function task(id: string, steps: string[], state: TaskStatus['state'] = 'in_progress', requestedBy = 'manager'): TaskStatus {
  return {
    taskId: id,
    service: 'alpha',
    operation: 'failover',
    requestedBy,
    state,
    startTime: 't',
    endTime: null,
    steps: steps.map((line) => ({ time: 't', line })),
    taskResult: null,
  };
}

describe('AutomaticTaskWatcher', () => {
  it('ignores what happened before the first poll and the operator’s own tasks', () => {
    const w = new AutomaticTaskWatcher();
    expect(w.update([task('old', ['A'], 'complete')])).toEqual([]);
    expect(w.update([task('mine', ['X'], 'complete', 'ops'), task('old', ['A'], 'complete')])).toEqual([]);
  });

  it('streams a new automatic task step by step, once, and says how it ended', () => {
    const w = new AutomaticTaskWatcher();
    w.update([]);
    expect(w.update([task('t1', ['SET POLICY'])])).toEqual(["MANAGER: automatic 'failover' (task t1)", '  SET POLICY']);
    expect(w.update([task('t1', ['SET POLICY'])])).toEqual([]);
    expect(w.update([task('t1', ['SET POLICY', 'PROMOTED db2'], 'complete')])).toEqual(['  PROMOTED db2', "MANAGER: automatic 'failover' completed"]);
    expect(w.update([task('t1', ['SET POLICY', 'PROMOTED db2'], 'complete')])).toEqual([]);
  });
});

describe('TaskWatcher', () => {
  it("announces every task this shell did not start: another operator's and the manager's, with how each ended and why", () => {
    const w = new TaskWatcher((id) => id === 'mine');
    w.update([]);
    const theirs = { ...task('t2', ['SET POLICY'], 'failed', 'ops'), operation: 'switch to db3', taskResult: { error: 'no eligible slave' } };
    expect(w.update([theirs, task('t1', ['PROMOTED db2'], 'complete'), task('mine', ['X'], 'complete', 'me')])).toEqual([
      "MANAGER: automatic 'failover' (task t1)",
      '  PROMOTED db2',
      "MANAGER: automatic 'failover' completed",
      "MANAGER: ops's 'switch to db3' (task t2)",
      '  SET POLICY',
      "MANAGER: ops's 'switch to db3' FAILED: no eligible slave",
    ]);
  });
});
