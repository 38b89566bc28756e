/** Every shell command, looked up by name or alias, with `did you mean` for typos. */
import cluster from '../../commands/cctrl/cluster.js';
import datasource from '../../commands/cctrl/datasource.js';
import expert from '../../commands/cctrl/expert.js';
import failover from '../../commands/cctrl/failover.js';
import help from '../../commands/cctrl/help.js';
import history from '../../commands/cctrl/history.js';
import ls from '../../commands/cctrl/ls.js';
import members from '../../commands/cctrl/members.js';
import ping from '../../commands/cctrl/ping.js';
import quit from '../../commands/cctrl/quit.js';
import recover from '../../commands/cctrl/recover.js';
import replicator from '../../commands/cctrl/replicator.js';
import service from '../../commands/cctrl/service.js';
import set from '../../commands/cctrl/set.js';
import switchCommand from '../../commands/cctrl/switch.js';
import use from '../../commands/cctrl/use.js';
import { EXPERT_LEVEL_MEANS, type CommandSpec } from './command.js';

const COMMANDS: CommandSpec[] = [
  ls,
  switchCommand,
  failover,
  recover,
  datasource,
  set,
  cluster,
  ping,
  members,
  use,
  expert,
  replicator,
  service,
  history,
  help,
  quit,
];

export function allCommands(): readonly CommandSpec[] {
  return COMMANDS;
}

/** Names and aliases, sorted: what Tab completes at the start of a statement. */
export function commandNames(): string[] {
  return COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]).sort();
}

export function findCommand(word: string): CommandSpec | undefined {
  const w = word.toLowerCase();
  return COMMANDS.find((c) => c.name === w || c.aliases?.includes(w));
}

/** The closest command name within a small edit distance, for `did you mean switch?`. */
export function suggestCommand(word: string): string | null {
  const w = word.toLowerCase();
  let best: { name: string; distance: number } | null = null;
  for (const name of commandNames()) {
    const d = name.startsWith(w) && w.length >= 2 ? 0.5 : editDistance(w, name);
    if (!best || d < best.distance) best = { name, distance: d };
  }
  const limit = Math.max(1, Math.floor(w.length / 3));
  return best && best.distance <= limit ? best.name : null;
}

export function helpOverview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  const rows = COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`);
  return ['Commands (help COMMAND for more):', ...rows].join('\n');
}

export function helpFor(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}`, spec.summary];
  if (spec.aliases?.length) lines.push(`also: ${spec.aliases.join(', ')}`);
  // Commands expert-level only for some arguments (datasource HOST fail) say so in their own help.
  if (spec.expertLevel?.([])) lines.push(`expert-level: ${EXPERT_LEVEL_MEANS}`);
  if (spec.help) lines.push(spec.help);
  return lines.join('\n');
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
