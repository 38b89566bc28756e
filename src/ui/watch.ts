/**
 * What the manager does on its own (automatic failover, recovery) shows in the scrollback as it
 * happens: each poll of the history hands new tasks' new step lines to the screen once.
 */
import type { TaskStatus } from '../manager/model.js';

export const AUTOMATIC_REQUESTER = 'manager';

export class AutomaticTaskWatcher {
  /** Task id -> step lines already shown; tasks seen at the first poll count as shown. */
  private readonly shown = new Map<string, { steps: number; ended: boolean }>();
  private primed = false;

  /** `tasks`: the newest entries of the history (newest first). Returns the lines to show. */
  update(tasks: readonly TaskStatus[]): string[] {
    const lines: string[] = [];
    for (const task of [...tasks].reverse()) {
      if (task.requestedBy !== AUTOMATIC_REQUESTER) continue;
      const ended = task.state !== 'in_progress';
      let seen = this.shown.get(task.taskId);
      if (!seen) {
        seen = this.primed ? { steps: 0, ended: false } : { steps: task.steps.length, ended };
        this.shown.set(task.taskId, seen);
        if (this.primed) lines.push(`MANAGER: automatic '${task.operation}' (task ${task.taskId})`);
      }
      for (; seen.steps < task.steps.length; seen.steps++) lines.push(`  ${task.steps[seen.steps]!.line}`);
      if (ended && !seen.ended) {
        seen.ended = true;
        lines.push(`MANAGER: automatic '${task.operation}' ${task.state === 'complete' ? 'completed' : 'FAILED'}`);
      }
    }
    this.primed = true;
    return lines;
  }
}
