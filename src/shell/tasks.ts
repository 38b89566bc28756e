/**
 * Waiting for a manager task: step lines are handed on as they appear, the wait ends when the task
 * ends, the timeout passes (outcome unknown: exit 4) or Ctrl-C aborts it (the task keeps running).
 */
import { ToolkitError, isToolkitError } from '../errors.js';
import type { ControlRequest, TaskStatus } from '../manager/model.js';
import type { CommandContext } from './command.js';

/** A wait that ended without knowing the outcome; the task id says what to check. */
export class TaskWaitError extends ToolkitError {
  constructor(
    kind: 'timeout' | 'interrupted' | 'unreachable',
    message: string,
    hint: string,
    readonly taskId: string,
  ) {
    super(kind, message, hint);
  }
}

export async function runTask(ctx: CommandContext, request: ControlRequest): Promise<TaskStatus> {
  const service = ctx.requireService();
  const started = await ctx.api.control(service, request);
  return waitForTask(ctx, started);
}

export async function waitForTask(ctx: CommandContext, started: TaskStatus): Promise<TaskStatus> {
  if (started.state !== 'in_progress') {
    for (const step of started.steps) ctx.progress(step.line);
    return started;
  }
  const waitStarted = Date.now();
  try {
    // The client follows the manager's event stream, and polls only when the stream is unavailable.
    return await ctx.api.waitForTask(started.taskId, { onStep: ctx.progress, timeoutMs: ctx.timeoutMs, signal: ctx.signal });
  } catch (e) {
    // A request the manager left unanswered, before the wait's own --timeout: the manager is lost.
    const managerSilent = isToolkitError(e) && e.kind === 'timeout' && Date.now() - waitStarted < ctx.timeoutMs;
    if (isToolkitError(e) && (e.kind === 'timeout' || e.kind === 'interrupted') && !managerSilent && !(e instanceof TaskWaitError)) {
      throw waitError(e.kind, started, ctx.timeoutMs);
    }
    if (isToolkitError(e) && (e.kind === 'unreachable' || managerSilent)) {
      throw new TaskWaitError(
        'unreachable',
        `lost the manager while waiting for '${started.operation}' (task ${started.taskId}); its outcome is unknown: ${e.message}`,
        `when the manager answers again, check the task with: history ${started.taskId}`,
        started.taskId,
      );
    }
    throw e;
  }
}

function waitError(kind: 'timeout' | 'interrupted', task: TaskStatus, timeoutMs: number): TaskWaitError {
  if (kind === 'interrupted') {
    return new TaskWaitError(
      'interrupted',
      `stopped waiting for '${task.operation}' (task ${task.taskId}); it keeps running on the manager`,
      `check its outcome with: history ${task.taskId}`,
      task.taskId,
    );
  }
  return new TaskWaitError(
    'timeout',
    `'${task.operation}' did not finish within ${Number((timeoutMs / 1000).toFixed(1))} s; its outcome is unknown (task ${task.taskId} is still running on the manager)`,
    `check it with: history ${task.taskId}, or wait longer with --timeout`,
    task.taskId,
  );
}
