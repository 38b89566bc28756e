/**
 * What happens on the manager without this shell (an automatic failover or recovery, another
 * operator's switch) shows in the scrollback as it happens. A task is noticed from the manager's
 * event stream (its first step, or its end), or from a read of the history only while the stream
 * is unavailable; it is then followed the way the shell follows its own tasks, through
 * ShellApi.waitForTask (the event stream, polling only when that is unavailable). Tasks this shell
 * started are its own to show.
 */
import type { ManagerEvent, TaskStatus } from '../manager/model.js';
import { taskError } from '../format/render.js';
import type { ShellApi } from '../shell/services.js';

export const AUTOMATIC_REQUESTER = 'manager';

/** A task another shell or the manager started is followed this long at most (setTimeout's limit is 24.8 days). */
const FOLLOW_LIMIT_MS = 24 * 3600_000;

export interface TaskWatcherOptions {
  api: Pick<ShellApi, 'task' | 'waitForTask'>;
  /** Whether this shell started the task (Shell.ownsTask). */
  owns(taskId: string): Promise<boolean>;
  /** Lines for the scrollback, in order. */
  show(lines: string[]): void;
  /** Following stops when it aborts. */
  signal: AbortSignal;
}

interface Watched {
  /** Step lines already shown. */
  steps: number;
  /** Its end is shown, or it is this shell's own or from before the watch: nothing more to show. */
  done: boolean;
  /** A follow of it is under way. */
  following: boolean;
  /** Its first line, `who 'operation'`, once shown. */
  label: string | null;
}

export class TaskWatcher {
  private readonly tasks = new Map<string, Watched>();
  /** A history read is the first since the stream was last open (or since the start). */
  private priming = true;
  /** The newest time on the manager's clock seen on the stream: a task that ended later ended unseen. */
  private seenUntil: string | null = null;

  constructor(private readonly options: TaskWatcherOptions) {}

  /** An event of the service's stream: a task's step or end is noticed. */
  event(event: ManagerEvent): void {
    if (event.type === 'state') this.saw(event.status.sampledAt);
    else if (event.type === 'task-step') {
      this.saw(event.step.time);
      this.notice(event.taskId);
    } else if (event.type === 'task-end') {
      this.saw(event.task.endTime);
      this.notice(event.task.taskId);
    }
  }

  /** The stream opened: the next history read (once it drops again) takes up from what it saw. */
  streamOpened(): void {
    this.priming = true;
  }

  /**
   * The newest entries of the history (newest first), read while the stream is unavailable. At the
   * first read, a task that had ended before the watch (before what the stream last showed) is past.
   */
  history(tasks: readonly TaskStatus[]): void {
    for (const task of [...tasks].reverse()) {
      const past = task.state !== 'in_progress' && (this.seenUntil === null || (task.endTime ?? '') <= this.seenUntil);
      if (this.priming && past && !this.tasks.has(task.taskId)) {
        this.tasks.set(task.taskId, { steps: 0, done: true, following: false, label: null });
        continue;
      }
      this.notice(task.taskId);
    }
    this.priming = false;
  }

  private saw(time: string | null): void {
    if (time && (this.seenUntil === null || time > this.seenUntil)) this.seenUntil = time;
  }

  private notice(taskId: string): void {
    let watched = this.tasks.get(taskId);
    if (watched?.done || watched?.following) return;
    if (!watched) this.tasks.set(taskId, (watched = { steps: 0, done: false, following: false, label: null }));
    watched.following = true;
    void this.follow(taskId, watched);
  }

  /** Shows the task from the step it reached to its end; a follow that fails is taken up again when the task is next noticed. */
  private async follow(taskId: string, watched: Watched): Promise<void> {
    const { api, show, signal } = this.options;
    try {
      if (watched.label === null) {
        if (await this.options.owns(taskId)) {
          watched.done = true;
          return;
        }
        const task = await api.task(taskId);
        watched.label = `${task.requestedBy === AUTOMATIC_REQUESTER ? 'automatic' : `${task.requestedBy}'s`} '${task.operation}'`;
        show([`MANAGER: ${watched.label} (task ${taskId})`]);
      }
      let index = 0;
      const final = await api.waitForTask(taskId, {
        // It hands on the task's steps from the first: those already shown are skipped.
        onStep: (line) => {
          if (index++ < watched.steps) return;
          watched.steps++;
          show([`  ${line}`]);
        },
        timeoutMs: FOLLOW_LIMIT_MS,
        signal,
      });
      watched.done = true;
      show([`MANAGER: ${watched.label} ${final.state === 'complete' ? 'completed' : `FAILED: ${taskError(final)}`}`]);
    } catch {
      // The manager was lost meanwhile (or the shell is leaving): the next event or history read
      // of the task takes it up again from the step it reached.
    } finally {
      watched.following = false;
    }
  }
}
