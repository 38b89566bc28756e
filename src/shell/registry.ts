/**
 * The shell's commands, looked up by name or alias, with `did you mean` for typos. The list itself
 * is commands/cctrl/index.ts; the entry point (src/cli/cctrl.ts) hands it to the shell, so
 * nothing in src/ imports a command.
 */
import { EXPERT_LEVEL_MEANS, type CommandSpec } from './command.js';

export interface CommandRegistry {
  /** Names and aliases, sorted: what Tab completes at the start of a statement. */
  commandNames(): string[];
  findCommand(word: string): CommandSpec | undefined;
  /** The closest command name within a small edit distance, for `did you mean switch?`. */
  suggestCommand(word: string): string | null;
  helpOverview(): string;
  helpFor(spec: CommandSpec): string;
}

export function createRegistry(commands: readonly CommandSpec[]): CommandRegistry {
  const commandNames = () => commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]).sort();
  return {
    commandNames,
    findCommand(word) {
      const w = word.toLowerCase();
      return commands.find((c) => c.name === w || c.aliases?.includes(w));
    },
    suggestCommand(word) {
      return closestName(word, commandNames());
    },
    helpOverview() {
      const width = Math.max(...commands.map((c) => c.usage.length));
      const rows = commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`);
      return ['Commands (help COMMAND for more):', ...rows].join('\n');
    },
    helpFor,
  };
}

function helpFor(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}`, spec.summary];
  if (spec.aliases?.length) lines.push(`also: ${spec.aliases.join(', ')}`);
  // Commands expert-level only for some arguments (datasource HOST fail) say so in their own help.
  if (spec.expertLevel?.([])) lines.push(`expert-level: ${EXPERT_LEVEL_MEANS}`);
  if (spec.help) lines.push(spec.help);
  return lines.join('\n');
}

/** The name closest to `word` (ignoring case) within a small edit distance, or a prefix of it; null when none is close. */
export function closestName(word: string, names: readonly string[]): string | null {
  const w = word.toLowerCase();
  let best: { name: string; distance: number; tied: boolean } | null = null;
  for (const name of names) {
    const n = name.toLowerCase();
    const d = n.startsWith(w) && w.length >= 2 ? 0.5 : editDistance(w, n);
    if (!best || d < best.distance) best = { name, distance: d, tied: false };
    else if (d === best.distance) best.tied = true;
  }
  const limit = Math.max(1, Math.floor(w.length / 3));
  // Two names as close as each other (db9: db1 or db3?) suggest neither.
  return best && !best.tied && best.distance <= limit ? best.name : null;
}

function editDistance(a: string, b: string): number {
  if (a.length > 64) return Infinity;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length]!;
}
