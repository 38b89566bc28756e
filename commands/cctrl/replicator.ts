import { ToolkitError } from '../../src/errors.js';
import { datasourceName } from '../../src/shell/names.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

const USAGE = 'replicator HOST status|online|offline';

export default defineCommand({
  name: 'replicator',
  usage: USAGE,
  summary: "show a datasource's replicator, or put it online or offline",
  complete: (args, ctx) => (args.length === 0 ? ctx.datasources : args.length === 1 ? ['status', 'online', 'offline'] : []),
  async run(ctx, args) {
    const [typed, action] = args;
    if (args.length !== 2 || !typed) throw new ToolkitError('usage', `usage: ${USAGE}`);
    const host = await datasourceName(ctx, typed);
    if (action === 'status') {
      const status = await ctx.api.datasourceStatus(ctx.requireService(), host);
      return { kind: 'replicator-status', datasource: host, replicator: status.replicator, status };
    }
    if (action !== 'online' && action !== 'offline') throw new ToolkitError('usage', `usage: ${USAGE}`);
    const task = await runTask(ctx, { op: 'replicator', host, action });
    return { kind: 'task', operation: task.operation, task };
  },
});
