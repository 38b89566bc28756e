import { ToolkitError } from '../../src/errors.js';
import { evaluateCandidates } from '../../src/shell/candidates.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';
import { parseTarget } from './failover.js';

export default defineCommand({
  name: 'switch',
  usage: 'switch [to HOST] [--dry-run]',
  summary: 'promote a slave to master in a planned switch (the most caught-up one by default)',
  help: '--dry-run prints every candidate and why it is eligible or not, and changes nothing.',
  complete: (args, ctx) => {
    if (args.length === 0) return ['to', '--dry-run'];
    if (args[args.length - 1] === 'to') return ctx.datasources;
    return args.includes('--dry-run') ? [] : ['--dry-run'];
  },
  async run(ctx, args) {
    const dryRun = args.includes('--dry-run');
    const target = parseTarget(args.filter((a) => a !== '--dry-run'), 'switch [to HOST] [--dry-run]');
    if (dryRun) {
      const status = await ctx.api.serviceStatus(ctx.requireService());
      if (target !== null && !status.datasources.some((d) => d.name === target)) {
        throw new ToolkitError('not_found', `no datasource '${target}' in service '${status.name}'`);
      }
      return { kind: 'dry-run', operation: target ? `switch to ${target}` : 'switch', ...evaluateCandidates(status, target) };
    }
    const task = await runTask(ctx, { op: 'switch', ...(target ? { target } : {}) });
    return { kind: 'task', operation: task.operation, task };
  },
});
