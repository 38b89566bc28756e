import { ToolkitError, isToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'ping',
  usage: 'ping [HOST]',
  summary: 'database ping of every datasource (or one)',
  complete: (args, ctx) => (args.length === 0 ? ctx.datasources : []),
  async run(ctx, args) {
    if (args.length > 1) throw new ToolkitError('usage', 'usage: ping [HOST]');
    const service = ctx.requireService();
    const names = args.length === 1 ? [args[0]!] : (await ctx.api.serviceStatus(service)).datasources.map((d) => d.name);
    const results = await Promise.all(
      names.map(async (name) => {
        try {
          const p = await ctx.api.pingDatasource(service, name);
          return { name, address: p.address || null, alive: p.alive };
        } catch (e) {
          if (isToolkitError(e) && e.kind === 'not_found') throw e;
          if (isToolkitError(e) && (e.kind === 'unreachable' || e.kind === 'unauthorized')) throw e;
          return { name, address: null, alive: false };
        }
      }),
    );
    return { kind: 'ping', results };
  },
});
