/** Tab completion of commands, sub-commands, datasource and service names. */
import type { CompletionContext } from './command.js';
import { splitForCompletion } from './parser.js';

export interface Completion {
  /** The line after Tab: the word completed (plus a blank when unique) or extended to the common prefix. */
  line: string;
  /** Every candidate for the word, to show when there is more than one. */
  candidates: string[];
}

export function complete(line: string, ctx: CompletionContext): Completion {
  const { words, partial } = splitForCompletion(line);
  let pool: string[];
  if (words.length === 0) pool = ctx.commands.commandNames();
  else pool = ctx.commands.findCommand(words[0]!)?.complete?.(words.slice(1), ctx) ?? [];
  const candidates = [...new Set(pool.filter((c) => c.startsWith(partial)))];
  if (candidates.length === 0) return { line, candidates };
  const head = line.slice(0, line.length - partial.length);
  if (candidates.length === 1) return { line: `${head}${candidates[0]} `, candidates };
  return { line: `${head}${commonPrefix(candidates)}`, candidates };
}

function commonPrefix(words: string[]): string {
  let prefix = words[0] ?? '';
  for (const w of words) while (!w.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}
