import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'history',
  usage: 'history [N]',
  summary: "the manager's recent operations on the service, newest first (default 20)",
  async run(ctx, args) {
    const limit = args.length === 0 ? 20 : Number(args[0]);
    if (args.length > 1 || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ToolkitError('usage', 'usage: history [N] (N from 1 to 1000)');
    }
    const service = ctx.requireService();
    return { kind: 'history', service, tasks: await ctx.api.history(service, limit) };
  },
});
