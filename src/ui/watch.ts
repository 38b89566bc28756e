/**
 * What happens on the manager without this shell (an automatic failover or recovery, another
 * operator's switch) shows in the scrollback as it happens: each poll of the history hands new
 * tasks' new step lines to the screen once. Tasks this shell started are its own to show.
 */
import type { TaskStatus } from '../manager/model.js';
import { taskError } from '../format/render.js';

export const AUTOMATIC_REQUESTER = 'manager';

export class TaskWatcher {
  /** Task id -> step lines already shown; tasks seen at the first poll count as shown. */
  private readonly shown = new Map<string, { steps: number; ended: boolean }>();
  private primed = false;

  /** `own`: whether this shell started the task (its own output shows it). */
  constructor(private readonly own: (taskId: string) => boolean = () => false) {}

  /** `tasks`: the newest entries of the history (newest first). Returns the lines to show. */
  update(tasks: readonly TaskStatus[]): string[] {
    const lines: string[] = [];
    for (const task of [...tasks].reverse()) {
      if (this.own(task.taskId)) continue;
      const who = task.requestedBy === AUTOMATIC_REQUESTER ? 'automatic' : `${task.requestedBy}'s`;
      const ended = task.state !== 'in_progress';
      let seen = this.shown.get(task.taskId);
      if (!seen) {
        seen = this.primed ? { steps: 0, ended: false } : { steps: task.steps.length, ended };
        this.shown.set(task.taskId, seen);
        if (this.primed) lines.push(`MANAGER: ${who} '${task.operation}' (task ${task.taskId})`);
      }
      for (; seen.steps < task.steps.length; seen.steps++) lines.push(`  ${task.steps[seen.steps]!.line}`);
      if (ended && !seen.ended) {
        seen.ended = true;
        lines.push(`MANAGER: ${who} '${task.operation}' ${task.state === 'complete' ? 'completed' : `FAILED: ${taskError(task)}`}`);
      }
    }
    this.primed = true;
    return lines;
  }
}

/** The automatic tasks only (requested by the manager itself). */
export class AutomaticTaskWatcher extends TaskWatcher {
  constructor() {
    super(() => false);
  }

  override update(tasks: readonly TaskStatus[]): string[] {
    return super.update(tasks.filter((t) => t.requestedBy === AUTOMATIC_REQUESTER));
  }
}
