import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

/** `[to HOST]` */
export function parseTarget(args: string[], usage: string): string | null {
  if (args.length === 0) return null;
  if (args.length === 2 && args[0] === 'to' && !args[1]!.startsWith('-')) return args[1]!;
  throw new ToolkitError('usage', `usage: ${usage}`);
}

export default defineCommand({
  name: 'failover',
  usage: 'failover [to HOST]',
  summary: 'promote a slave after the master FAILED (use switch while the master is healthy)',
  expertLevel: () => true,
  complete: (args, ctx) => (args.length === 0 ? ['to'] : args.length === 1 && args[0] === 'to' ? ctx.datasources : []),
  async run(ctx, args) {
    const target = parseTarget(args, 'failover [to HOST]');
    const task = await runTask(ctx, { op: 'failover', ...(target ? { target } : {}) });
    return { kind: 'task', operation: task.operation, task };
  },
});
