import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'ls',
  usage: 'ls [-l] [HOST]',
  summary: 'show the coordinator, routers and datasources of the service',
  help: '-l adds every detail of each datasource; HOST shows only that datasource.\nAt the root of a -multi session, lists the data services.',
  complete: (args, ctx) => (args.length === 0 ? ['-l', ...ctx.datasources] : args.length === 1 && args[0] === '-l' ? ctx.datasources : []),
  async run(ctx, args) {
    const detailed = args[0] === '-l';
    const rest = detailed ? args.slice(1) : args;
    if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) throw new ToolkitError('usage', 'usage: ls [-l] [HOST]');
    if (ctx.session.service === null && ctx.session.multi) {
      return { kind: 'services', services: await ctx.api.serviceNames() };
    }
    const status = await ctx.api.serviceStatus(ctx.requireService());
    const host = rest[0] ?? null;
    if (host !== null && !status.datasources.some((d) => d.name === host)) {
      throw new ToolkitError(
        'not_found',
        `no datasource '${host}' in service '${status.name}'`,
        `known datasources: ${status.datasources.map((d) => d.name).join(', ')}`,
      );
    }
    return { kind: 'ls', status, detailed, host };
  },
});
