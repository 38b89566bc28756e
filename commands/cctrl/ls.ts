import { ToolkitError } from '../../src/errors.js';
import { matchDatasource } from '../../src/shell/names.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'ls',
  usage: 'ls [-l] [HOST] | ls resources',
  summary: 'show the coordinator, routers and datasources of the service',
  help: '-l adds every detail of each datasource; HOST shows only that datasource.\nls resources lists every resource (each datasource, its data server, manager and replicator, each connector) with its state.\nAt the root of a -multi session, lists the data services.',
  complete: (args, ctx) => (args.length === 0 ? ['-l', 'resources', ...ctx.datasources] : args.length === 1 && args[0] === '-l' ? ctx.datasources : []),
  async run(ctx, args) {
    const detailed = args[0] === '-l';
    const rest = detailed ? args.slice(1) : args;
    if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) throw new ToolkitError('usage', 'usage: ls [-l] [HOST] | ls resources');
    if (ctx.session.service === null && ctx.session.multi) {
      return { kind: 'services', services: await ctx.api.serviceNames() };
    }
    const status = await ctx.api.serviceStatus(ctx.requireService());
    // A datasource named `resources` is still listed by `ls -l resources`.
    if (!detailed && rest.length === 1 && rest[0] === 'resources') return { kind: 'ls', status, detailed: false, host: null, resources: true };
    const host = rest[0] === undefined ? null : matchDatasource(rest[0], status.name, status.datasources.map((d) => d.name));
    return { kind: 'ls', status, detailed, host };
  },
});
