import { describe, expect, it } from 'vitest';
import { cctrlCommands } from '../../commands/cctrl/index.js';
import { Shell } from '../../src/shell/session.js';
import { ToolkitError } from '../../src/errors.js';
import type { TaskStatus } from '../../src/manager/model.js';
import type { ShellApi } from '../../src/shell/services.js';
import { TaskWatcher } from '../../src/ui/watch.js';
import { startVirtualManager } from '../helpers/virtual-manager.js';

function task(id: string, steps: string[], state: TaskStatus['state'] = 'in_progress', requestedBy = 'manager', endTime: string | null = null): TaskStatus {
  return {
    taskId: id,
    service: 'alpha',
    operation: 'failover',
    requestedBy,
    state,
    startTime: '2026-01-01T00:00:00.000Z',
    endTime: state === 'in_progress' ? null : (endTime ?? '2026-01-01T00:00:01.000Z'),
    steps: steps.map((line) => ({ time: '2026-01-01T00:00:00.500Z', line })),
    taskResult: null,
  };
}

/**
 * The manager as the watcher reaches it: task() reads a task; waitForTask hands on its steps from
 * the first and ends when the task does (as ManagerClient's does), or fails once when told to.
 * A double on purpose: these tests hand the watcher events in orders a real manager gives only by
 * chance (a task told of before the control call's answer, a follow broken off mid-task, a gap
 * after the stream dropped). The watcher against the real manager: test/ui/app.test.tsx.
 */
function fakeManager(tasks: Map<string, TaskStatus>) {
  const calls: string[] = [];
  let failNextWait = false;
  const waiting = new Set<() => void>();
  const api: Pick<ShellApi, 'task' | 'waitForTask'> = {
    async task(id) {
      calls.push(`task ${id}`);
      return structuredClone(tasks.get(id)!);
    },
    async waitForTask(id, { onStep }) {
      calls.push(`wait ${id}`);
      let shown = 0;
      for (;;) {
        const t = tasks.get(id)!;
        for (; shown < t.steps.length; shown++) onStep(t.steps[shown]!.line);
        if (failNextWait) {
          failNextWait = false;
          throw new ToolkitError('unreachable', 'the manager at http://fake is unreachable: connection reset');
        }
        if (t.state !== 'in_progress') return structuredClone(t);
        await new Promise<void>((r) => waiting.add(r));
      }
    },
  };
  return {
    api,
    calls,
    failNextWait: () => (failNextWait = true),
    /** The task moved on: followers look again. */
    changed: () => {
      for (const wake of [...waiting]) wake();
      waiting.clear();
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

function watcher(tasks: Map<string, TaskStatus>, owns: (id: string) => Promise<boolean> = async () => false) {
  const manager = fakeManager(tasks);
  const lines: string[] = [];
  const abort = new AbortController();
  const w = new TaskWatcher({ api: manager.api, owns, show: (l) => lines.push(...l), signal: abort.signal });
  return { w, lines, manager, abort };
}

describe('TaskWatcher, from the event stream', () => {
  it("follows another operator's task from its first streamed step to its end, once, however many events it gets", async () => {
    const tasks = new Map([['t1', { ...task('t1', ['SET POLICY'], 'in_progress', 'ops'), operation: 'switch to db2' }]]);
    const { w, lines, manager } = watcher(tasks);
    w.event({ type: 'task-step', service: 'alpha', taskId: 't1', step: { time: 't', line: 'SET POLICY' } });
    await settle();
    expect(lines).toEqual(["MANAGER: ops's 'switch to db2' (task t1)", '  SET POLICY']);
    tasks.get('t1')!.steps.push({ time: 't', line: 'PROMOTED db2' });
    w.event({ type: 'task-step', service: 'alpha', taskId: 't1', step: { time: 't', line: 'PROMOTED db2' } });
    manager.changed();
    await settle();
    tasks.set('t1', { ...tasks.get('t1')!, state: 'complete', endTime: 't' });
    w.event({ type: 'task-end', service: 'alpha', task: tasks.get('t1')! });
    manager.changed();
    await settle();
    w.event({ type: 'task-end', service: 'alpha', task: tasks.get('t1')! });
    await settle();
    expect(lines).toEqual(["MANAGER: ops's 'switch to db2' (task t1)", '  SET POLICY', '  PROMOTED db2', "MANAGER: ops's 'switch to db2' completed"]);
    // One read for who asked what, one follow: the steps came through waitForTask.
    expect(manager.calls).toEqual(['task t1', 'wait t1']);
  });

  it("shows nothing of the shell's own task, even when the stream tells of it before the control call has its answer", async () => {
    const tasks = new Map([['mine', task('mine', ['X'], 'complete', 'ops')]]);
    let answer = (_own: boolean) => {};
    const { w, lines, manager } = watcher(tasks, () => new Promise((r) => (answer = r)));
    w.event({ type: 'task-end', service: 'alpha', task: tasks.get('mine')! });
    await settle();
    answer(true);
    await settle();
    expect(lines).toEqual([]);
    expect(manager.calls).toEqual([]);
  });

  it('a follow the manager breaks off is taken up at the next event, from the step it reached', async () => {
    const tasks = new Map([['t1', task('t1', ['SET POLICY'])]]);
    const { w, lines, manager } = watcher(tasks);
    manager.failNextWait();
    w.event({ type: 'task-step', service: 'alpha', taskId: 't1', step: { time: 't', line: 'SET POLICY' } });
    await settle();
    tasks.set('t1', task('t1', ['SET POLICY', 'PROMOTED db2'], 'complete'));
    w.event({ type: 'task-end', service: 'alpha', task: tasks.get('t1')! });
    await settle();
    expect(lines).toEqual(["MANAGER: automatic 'failover' (task t1)", '  SET POLICY', '  PROMOTED db2', "MANAGER: automatic 'failover' completed"]);
  });
});

describe('TaskWatcher, from the history (the stream unavailable)', () => {
  it('ignores what ended before the first read; follows what runs and what comes after, and says how each ended and why', async () => {
    const tasks = new Map<string, TaskStatus>([
      ['old', task('old', ['A'], 'complete')],
      ['running', task('running', ['SET POLICY'])],
    ]);
    const { w, lines, manager } = watcher(tasks);
    w.history([tasks.get('running')!, tasks.get('old')!]);
    await settle();
    expect(lines).toEqual(["MANAGER: automatic 'failover' (task running)", '  SET POLICY']);
    tasks.set('running', task('running', ['SET POLICY', 'PROMOTED db2'], 'complete'));
    tasks.set('t2', { ...task('t2', ['SET POLICY'], 'failed', 'ops'), operation: 'switch to db3', taskResult: { error: 'no eligible slave' } });
    manager.changed();
    w.history([tasks.get('t2')!, tasks.get('running')!, tasks.get('old')!]);
    await settle();
    expect(lines).toEqual([
      "MANAGER: automatic 'failover' (task running)",
      '  SET POLICY',
      '  PROMOTED db2',
      "MANAGER: automatic 'failover' completed",
      "MANAGER: ops's 'switch to db3' (task t2)",
      '  SET POLICY',
      "MANAGER: ops's 'switch to db3' FAILED: no eligible slave",
    ]);
    expect(manager.calls.filter((c) => c.endsWith('old'))).toEqual([]);
  });

  it('after the stream drops, the first read shows a task that ended after what the stream last showed, and not one from before', async () => {
    const tasks = new Map<string, TaskStatus>([
      ['before', task('before', ['A'], 'complete', 'manager', '2026-01-01T00:00:05.000Z')],
      ['gap', task('gap', ['B'], 'complete', 'manager', '2026-01-01T00:00:20.000Z')],
    ]);
    const { w, lines } = watcher(tasks);
    w.streamOpened();
    w.event({ type: 'state', service: 'alpha', status: { sampledAt: '2026-01-01T00:00:10.000Z' } as never });
    w.history([tasks.get('gap')!, tasks.get('before')!]);
    await settle();
    expect(lines).toEqual(["MANAGER: automatic 'failover' (task gap)", '  B', "MANAGER: automatic 'failover' completed"]);
  });
});

describe('Shell.ownsTask', () => {
  it('answers once the control calls under way are answered: a task the stream tells of first is still known as its own', async () => {
    // The real manager, its answer to the control call held back after it has started the task.
    const vm = await startVirtualManager();
    let open = () => {};
    const gate = new Promise<void>((r) => (open = r));
    const api: ShellApi = {
      ...vm.api,
      async control(service, request) {
        const task = await vm.api.control(service, request);
        await gate;
        return task;
      },
    };
    const shell = new Shell({ commands: cctrlCommands, api, state: { service: 'alpha', expert: false, multi: false }, timeoutMs: 10_000, confirm: async () => false, refusalHint: '' });
    const run = vm.passing(shell.runLine('set policy manual', {}, () => undefined));
    while (vm.manager.history('alpha', 1).length === 0) await settle();
    const mine = shell.ownsTask(vm.latestTask().taskId);
    const other = shell.ownsTask('another-operators-task');
    open();
    expect(await mine).toBe(true);
    expect(await other).toBe(false);
    await run;
  });
});
