import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'use',
  aliases: ['cd'],
  usage: 'use SERVICE (cd SERVICE, cd .. to the root with -multi)',
  summary: 'choose the service the next commands act on',
  complete: (args, ctx) => (args.length === 0 ? ctx.services : []),
  async run(ctx, args) {
    if (args.length !== 1) throw new ToolkitError('usage', 'usage: use SERVICE');
    const target = args[0]!;
    if (target === '..' || target === '/') {
      if (!ctx.session.multi) throw new ToolkitError('usage', 'there is no root outside -multi', 'start cctrl with -multi');
      ctx.session.service = null;
      return { kind: 'use', service: null };
    }
    const name = target.replace(/^\//, '');
    const services = await ctx.api.serviceNames();
    if (!services.includes(name)) {
      throw new ToolkitError('not_found', `no service '${name}'`, `known services: ${services.join(', ')}`);
    }
    ctx.session.service = name;
    return { kind: 'use', service: name };
  },
});
