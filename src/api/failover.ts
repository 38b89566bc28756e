/**
 * Several managers of one group behind one client (`--manager A,B,C`). Every member serves the
 * whole API from shared state, so each call goes to the member that answered last; when it stops
 * answering (no connection, no answer in time, HTTP 502 or 503) the call moves on to the next
 * member in order, wrapping around.
 *
 * What is sent again there: a read, always; a control call only when it failed before a connection
 * was open, so it surely never reached the member. A control call that may have arrived is not sent
 * twice: without an answer its outcome is unknown, and the error says which member took it; answered
 * 502 or 503, the answer is the error (a member says there whether the coordinator took the call).
 * Either way the next call goes to the next member. A task being waited on is
 * followed on the next member (task ids are shared), its steps handed on once each. Credentials are
 * the same everywhere: a 401 or 403 is an answer like any other, not a reason to move on.
 */
import { ToolkitError } from '../errors.js';
import type { TaskStatus } from '../manager/model.js';
import { ManagerCallError, ManagerClient, type ManagerClientOptions, type WaitForTaskOptions } from './client.js';

/** The member answering changed: `from` stopped answering (`reason`), `to` answers now. */
export interface MemberChange {
  from: string;
  to: string;
  reason: string;
}

export interface MemberAttempt {
  url: string;
  reason: string;
}

/** Every member was tried and none answered; `attempts` says why, member by member. */
export class NoManagerAnswers extends ToolkitError {
  constructor(readonly attempts: MemberAttempt[]) {
    super(
      'unreachable',
      `none of the managers answers: ${attempts.map((a) => `${a.url} (${a.reason})`).join(', ')}`,
      'check that tungsten-manager is running and that --manager gives its URLs',
    );
  }
}

/** A control call the manager took without answering: its outcome is unknown; `taskId` names the task it asked for. */
export class OutcomeUnknown extends ToolkitError {
  constructor(
    kind: 'timeout' | 'unreachable',
    message: string,
    hint: string,
    readonly taskId: string | null,
  ) {
    super(kind, message, hint);
  }
}

/** A failure that says the member is gone (rather than an answer to the call): move on. */
export function stoppedAnswering(e: unknown): e is ManagerCallError {
  return e instanceof ManagerCallError && (e.status === null || e.status === 502 || e.status === 503);
}

export type ClientOptions = Omit<ManagerClientOptions, 'url' | 'onAnswer'>;

export class FailoverClient {
  private readonly members: ManagerClient[];
  /** The member that answered last (the first, until one answers). */
  private current = 0;
  /** Where the next call starts: the current member, or the one after the last that failed. */
  private start = 0;
  /** Why each member last failed. */
  private readonly reasons = new Map<number, string>();
  private readonly listeners = new Set<(change: MemberChange) => void>();

  /** Throws ToolkitError 'usage' for a malformed URL, or one given twice. */
  constructor(urls: readonly string[], options: ClientOptions = {}) {
    if (urls.length === 0) throw new ToolkitError('usage', 'no manager URL given', 'give the manager as http://HOST:PORT');
    this.members = urls.map(
      (url, i) =>
        new ManagerClient({
          ...options,
          url,
          onAnswer: (status) => {
            if (status !== 502 && status !== 503) this.answered(i);
          },
        }),
    );
    const seen = new Set<string>();
    for (const member of this.members) {
      if (seen.has(member.url)) {
        throw new ToolkitError('usage', `the manager ${member.url} is given twice`, 'name each manager once: --manager URL[,URL...]');
      }
      seen.add(member.url);
    }
  }

  /** The member calls go to now. */
  get url(): string {
    return this.members[this.start]!.url;
  }

  get urls(): string[] {
    return this.members.map((m) => m.url);
  }

  /** Called each time another member takes over; returns the unsubscribe. */
  onChange(listener: (change: MemberChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A read: sent to each member in turn until one answers. */
  read<T>(call: (client: ManagerClient) => Promise<T>): Promise<T> {
    return this.send(call, null);
  }

  /**
   * A control call (`operation` names it in messages): sent to the next member only if it never
   * reached one. `taskId`: the id the call asks its task to have, named by the message when the
   * outcome is unknown.
   */
  control<T>(operation: string, call: (client: ManagerClient) => Promise<T>, taskId: string | null = null): Promise<T> {
    return this.send(call, { operation, taskId });
  }

  /** ManagerClient.waitForTask, resumed on the next member when the one followed stops answering. */
  async waitForTask(taskId: string, options: WaitForTaskOptions = {}): Promise<TaskStatus> {
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    let delivered = 0;
    /** Members that failed since the last step: when all have, none is left to ask. */
    let attempts: MemberAttempt[] = [];
    for (;;) {
      const i = this.start;
      const member = this.members[i]!;
      let index = 0;
      try {
        return await member.waitForTask(taskId, {
          ...options,
          ...(deadline === undefined ? {} : { timeoutMs: Math.max(1, deadline - Date.now()) }),
          // Each member hands on the task's steps from the first: skip those already handed on.
          onStep: (step) => {
            if (index++ < delivered) return;
            delivered++;
            attempts = [];
            options.onStep?.(step);
          },
        });
      } catch (e) {
        if (!stoppedAnswering(e)) throw e;
        this.failed(i, e.reason);
        if (this.members.length === 1) throw e;
        attempts.push({ url: member.url, reason: e.reason });
        if (attempts.length >= this.members.length) throw new NoManagerAnswers(attempts);
      }
    }
  }

  close(): void {
    for (const member of this.members) member.close();
  }

  private async send<T>(call: (client: ManagerClient) => Promise<T>, control: { operation: string; taskId: string | null } | null): Promise<T> {
    const n = this.members.length;
    const first = this.start;
    const attempts: MemberAttempt[] = [];
    for (let k = 0; k < n; k++) {
      const i = (first + k) % n;
      const member = this.members[i]!;
      try {
        return await call(member);
      } catch (e) {
        if (!stoppedAnswering(e)) throw e;
        this.failed(i, e.reason);
        if (control !== null && e.connected) throw e.status === null ? this.outcomeUnknown(control.operation, control.taskId, e) : e;
        if (n === 1) throw e;
        attempts.push({ url: member.url, reason: e.reason });
      }
    }
    throw new NoManagerAnswers(attempts);
  }

  private outcomeUnknown(operation: string, taskId: string | null, e: ManagerCallError): ToolkitError {
    const notResent = this.members.length > 1 ? ', and it was not sent to another manager' : '';
    const task = taskId === null ? '' : ` (task ${taskId})`;
    return new OutcomeUnknown(
      e.kind === 'timeout' ? 'timeout' : 'unreachable',
      `the manager at ${e.manager} took '${operation}'${task} but gave no answer (${e.reason}): its outcome is unknown${notResent}`,
      taskId === null
        ? 'check with ls or history before retrying'
        : `check it with: history ${taskId} before retrying (no such task means it never started)`,
      taskId,
    );
  }

  private failed(i: number, reason: string): void {
    this.reasons.set(i, reason);
    if (this.start === i) this.start = (i + 1) % this.members.length;
  }

  private answered(i: number): void {
    this.start = i;
    if (i === this.current) return;
    const from = this.current;
    this.current = i;
    const change = { from: this.members[from]!.url, to: this.members[i]!.url, reason: this.reasons.get(from) ?? 'no answer' };
    for (const listener of this.listeners) listener(change);
  }
}
