import { ToolkitError } from '../../src/errors.js';
import { datasourceName } from '../../src/shell/names.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

/** `[to HOST]` */
export function parseTarget(args: string[], usage: string): string | null {
  if (args.length === 0) return null;
  if (args.length === 2 && args[0] === 'to' && !args[1]!.startsWith('-')) return args[1]!;
  // `switch db2`: the host without `to`.
  if (args.length === 1 && args[0] !== 'to' && !args[0]!.startsWith('-')) {
    throw new ToolkitError('usage', `usage: ${usage}`, `did you mean '${usage.split(' ')[0]} to ${args[0]}'?`);
  }
  throw new ToolkitError('usage', `usage: ${usage}`);
}

export default defineCommand({
  name: 'failover',
  usage: 'failover [to HOST]',
  summary: 'promote a slave after the master FAILED (use switch while the master is healthy)',
  expertLevel: () => true,
  complete: (args, ctx) => (args.length === 0 ? ['to'] : args.length === 1 && args[0] === 'to' ? ctx.datasources : []),
  async run(ctx, args) {
    const typed = parseTarget(args, 'failover [to HOST]');
    const target = typed === null ? null : await datasourceName(ctx, typed);
    const task = await runTask(ctx, { op: 'failover', ...(target ? { target } : {}) });
    return { kind: 'task', operation: task.operation, task };
  },
});
