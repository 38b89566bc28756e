/**
 * A shell session: parses a line, runs each statement's command against the manager and turns
 * whatever happens into an Outcome with an honest exit code. The scripted path and the Ink UI
 * both drive this; neither formats here.
 */
import { randomUUID } from 'node:crypto';
import { OutcomeUnknown } from '../api/failover.js';
import { ExitCode, ToolkitError, isToolkitError } from '../errors.js';
import { asToolkitError } from '../failure.js';
import type { CommandContext, CompletionContext, SessionState } from './command.js';
import { parseLine, type Statement } from './parser.js';
import type { CommandRegistry } from './registry.js';
import { taskError } from '../format/render.js';
import type { CommandResult, Outcome, OutcomeError } from '../format/result.js';
import type { ShellApi } from './services.js';
import { TaskWaitError } from './tasks.js';

export const EXPERT_WARNING = [
  '',
  'WARNING: This is an expert-level command:',
  'Incorrect use may cause data corruption',
  'or make the cluster unavailable.',
  '',
  'Do you want to continue? (y/n)> ',
].join('\n');

export interface ShellOptions {
  api: ShellApi;
  /** The commands it runs (commands/cctrl/index.ts). */
  commands: CommandRegistry;
  state: SessionState;
  timeoutMs: number;
  /** Asked before an expert-level command outside expert mode; scripted sessions answer --yes. */
  confirm(statement: Statement): Promise<boolean>;
  /** Said when an expert-level command is not confirmed (scripts: how to allow it). */
  refusalHint: string;
}

export interface RunHooks {
  signal?: AbortSignal;
  progress?(line: string): void;
}

export class Shell {
  private names: Pick<CompletionContext, 'services' | 'datasources'> = { services: [], datasources: [] };
  /** Tasks this session started: the UI shows the others (another operator's, the manager's) as alerts. */
  private readonly started = new Set<string>();
  /** Control calls of this session not answered yet: a task they start is not known to be its own until they are. */
  private readonly controlling = new Set<Promise<unknown>>();
  /** The API as commands see it: control calls record the task they start. */
  private readonly commandApi: ShellApi;

  constructor(private readonly options: ShellOptions) {
    const api = options.api;
    const { started, controlling } = this;
    const control: ShellApi['control'] = async (service, request, taskId = randomUUID()) => {
      // The task's id is chosen here: it is this session's before the call is even answered, and a
      // call left unanswered still names the task to look for.
      started.add(taskId);
      const call = api.control(service, request, taskId);
      controlling.add(call);
      try {
        const task = await call;
        started.add(task.taskId);
        return task;
      } finally {
        controlling.delete(call);
      }
    };
    this.commandApi = new Proxy(api, {
      get(target, prop) {
        if (prop === 'control') return control;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /**
   * Whether this session started the task, once the control calls it has under way now are
   * answered: the manager's event stream can tell of a task before the call that started it has
   * its answer. (A call sent later cannot have started a task already seen.)
   */
  async ownsTask(taskId: string): Promise<boolean> {
    await Promise.allSettled([...this.controlling]);
    return this.started.has(taskId);
  }

  /** Replaces how expert-level commands are confirmed (the Ink UI asks on screen). */
  setConfirm(confirm: ShellOptions['confirm']): void {
    this.options.confirm = confirm;
  }

  get state(): SessionState {
    return this.options.state;
  }

  get api(): ShellApi {
    return this.options.api;
  }

  /** `[LOGICAL] /alpha > `, `[LOGICAL:EXPERT] /alpha > `, `[LOGICAL] / > `. */
  prompt(): string {
    return promptFor(this.state);
  }

  completionContext(): CompletionContext {
    return { ...this.names, commands: this.options.commands };
  }

  /** Refreshes the service and datasource names that Tab completes. */
  async refreshNames(): Promise<void> {
    const services = await this.api.serviceNames();
    const service = this.state.service;
    const datasources = service ? (await this.api.serviceStatus(service)).datasources.map((d) => d.name) : [];
    this.names = { services, datasources };
  }

  /**
   * Runs every statement of a line in order and reports each outcome as it ends. Like cctrl, a
   * failing statement does not stop the next; an unreachable manager or an interruption does.
   */
  async runLine(line: string, hooks: RunHooks, onOutcome: (o: Outcome) => void | Promise<void>): Promise<Outcome[]> {
    let statements: Statement[];
    try {
      statements = parseLine(line);
    } catch (e) {
      const outcome = this.failure({ text: line.trim(), words: [] }, null, e);
      await onOutcome(outcome);
      return [outcome];
    }
    const outcomes: Outcome[] = [];
    for (const statement of statements) {
      const outcome = await this.run(statement, hooks);
      outcomes.push(outcome);
      await onOutcome(outcome);
      if (outcome.exitCode === ExitCode.unreachable || outcome.exitCode === ExitCode.interrupted) break;
      if (outcome.result?.kind === 'quit') break;
    }
    return outcomes;
  }

  async run(statement: Statement, hooks: RunHooks = {}): Promise<Outcome> {
    const [word, ...args] = statement.words;
    const spec = word === undefined ? undefined : this.options.commands.findCommand(word);
    if (!spec) {
      const suggestion = word === undefined ? null : this.options.commands.suggestCommand(word);
      return this.failure(
        statement,
        null,
        new ToolkitError('usage', `unknown command '${word ?? ''}'`, suggestion ? `did you mean ${suggestion}?` : 'type help for the list of commands'),
      );
    }
    const serviceBefore = this.state.service;
    try {
      if (spec.expertLevel?.(args) && !this.state.expert && !(await this.options.confirm(statement))) {
        throw new ToolkitError('refused', `'${statement.text}' is an expert-level command and was not confirmed`, this.options.refusalHint);
      }
      const result = await spec.run(this.context(hooks), args);
      if (result.kind === 'ls') this.names = { ...this.names, datasources: result.status.datasources.map((d) => d.name) };
      return this.success(statement, spec.name, serviceBefore, result);
    } catch (e) {
      return this.failure(statement, spec.name, e, serviceBefore);
    }
  }

  private context(hooks: RunHooks): CommandContext {
    const state = this.state;
    return {
      api: this.commandApi,
      session: state,
      signal: hooks.signal ?? new AbortController().signal,
      timeoutMs: this.options.timeoutMs,
      progress: hooks.progress ?? (() => undefined),
      commands: this.options.commands,
      requireService() {
        if (state.service === null) throw new ToolkitError('usage', 'no service selected', 'choose one with: use SERVICE');
        return state.service;
      },
    };
  }

  private success(statement: Statement, name: string, service: string | null, result: CommandResult): Outcome {
    const task = result.kind === 'task' || result.kind === 'policy' ? result.task : null;
    let error: OutcomeError | null = null;
    if (task?.state === 'failed') error = { kind: 'refused', message: taskError(task), hint: null, taskId: task.taskId };
    if (result.kind === 'validate' && !result.valid) {
      error = { kind: 'refused', message: `service '${result.service}' has no quorum`, hint: null, taskId: null };
    }
    if (result.kind === 'dry-run' && result.selected === null) {
      error = { kind: 'refused', message: `no eligible slave: ${result.operation} would be refused`, hint: null, taskId: null };
    }
    return {
      command: statement.text,
      name,
      service: service ?? this.state.service,
      ok: error === null,
      exitCode: error === null ? ExitCode.ok : ExitCode.failed,
      result,
      error,
    };
  }

  private failure(statement: Statement, name: string | null, e: unknown, service = this.state.service): Outcome {
    // A bug in a command is said as one (exit 70, the stack in a file), never passed off as a refusal.
    const known = asToolkitError('cctrl', e);
    return {
      command: statement.text,
      name,
      service,
      ok: false,
      exitCode: known.exitCode,
      result: null,
      error: toOutcomeError(known),
    };
  }
}

/** `[LOGICAL] /alpha > `, `[LOGICAL:EXPERT] /alpha > `, `[LOGICAL] / > `. */
export function promptFor(state: SessionState): string {
  return `[${state.expert ? 'LOGICAL:EXPERT' : 'LOGICAL'}] /${state.service ?? ''} > `;
}

export function toOutcomeError(e: unknown): OutcomeError {
  if (isToolkitError(e)) {
    const taskId = e instanceof TaskWaitError || e instanceof OutcomeUnknown ? e.taskId : null;
    return { kind: e.kind, message: e.message, hint: e.hint ?? null, taskId };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { kind: 'refused', message: message || 'the command failed', hint: null, taskId: null };
}
