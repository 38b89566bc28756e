/** The shape of one shell command (commands/cctrl/<name>.ts) and what it may use while it runs. */
import type { CommandRegistry } from './registry.js';
import type { CommandResult } from '../format/result.js';
import type { ShellApi } from './services.js';

export interface SessionState {
  /** The service commands act on; null at the root of a -multi session. */
  service: string | null;
  expert: boolean;
  multi: boolean;
}

export interface CommandContext {
  api: ShellApi;
  session: SessionState;
  /** Aborted by Ctrl-C: stop waiting (the manager's task keeps running). */
  signal: AbortSignal;
  /** How long to wait for a manager task before saying its outcome is unknown. */
  timeoutMs: number;
  /** A step line of a long operation, as it happens. */
  progress(line: string): void;
  /** The service this command acts on; a usage error at the -multi root. */
  requireService(): string;
  /** The shell's commands (for help). */
  commands: CommandRegistry;
}

export interface CompletionContext {
  services: string[];
  datasources: string[];
  commands: CommandRegistry;
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  /** The usage line: `switch [to HOST] [--dry-run]`. */
  usage: string;
  summary: string;
  /** More lines for `help NAME`. */
  help?: string;
  /** Expert-level: asks the y/n confirmation (or needs -expert / --yes when scripted). */
  expertLevel?(args: string[]): boolean;
  /** Candidates for the word at position args.length (args: the complete words after the name). */
  complete?(args: string[], ctx: CompletionContext): string[];
  run(ctx: CommandContext, args: string[]): Promise<CommandResult>;
}

/** What expert-level means, for help texts. */
export const EXPERT_LEVEL_MEANS = 'asks for confirmation outside expert mode (scripts: -expert or --yes)';

export function defineCommand(spec: CommandSpec): CommandSpec {
  return spec;
}
