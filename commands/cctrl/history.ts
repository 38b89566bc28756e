import { ToolkitError, isToolkitError } from '../../src/errors.js';
import type { TaskStatus } from '../../src/manager/model.js';
import { defineCommand } from '../../src/shell/command.js';
import type { CommandContext } from '../../src/shell/command.js';

const USAGE = 'history [N] | history TASKID';

export default defineCommand({
  name: 'history',
  usage: USAGE,
  summary: "the manager's recent operations, newest first (default 20), or one task's whole step log",
  help: 'Each line: task id, start (UTC), duration, outcome, who started it, the operation and, if it failed, why.\nTASKID (or the first characters of one) prints every step of that task.',
  async run(ctx, args) {
    if (args.length > 1) throw new ToolkitError('usage', `usage: ${USAGE}`);
    const service = ctx.requireService();
    const arg = args[0];
    if (arg !== undefined && !/^\d+$/.test(arg)) return { kind: 'task-log', task: await findTask(ctx, service, arg) };
    const limit = arg === undefined ? 20 : Number(arg);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ToolkitError('usage', `usage: ${USAGE} (N from 1 to 1000)`);
    return { kind: 'history', service, tasks: await ctx.api.history(service, limit) };
  },
});

/** A task by its id, or by the first characters of one among the service's recent tasks. */
async function findTask(ctx: CommandContext, service: string, id: string): Promise<TaskStatus> {
  try {
    return await ctx.api.task(id);
  } catch (e) {
    if (!isToolkitError(e) || e.kind !== 'not_found') throw e;
  }
  const matches = (await ctx.api.history(service, 1000)).filter((t) => t.taskId.startsWith(id));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new ToolkitError('usage', `'${id}' is the start of ${matches.length} task ids`, `give more of it: ${matches.slice(0, 5).map((t) => t.taskId).join(', ')}`);
  }
  throw new ToolkitError('not_found', `no task '${id}' in service '${service}'`, 'list the recent ones with: history');
}
