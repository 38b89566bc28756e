import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'members',
  usage: 'members',
  summary: 'list the managers of the service and which one coordinates',
  async run(ctx, args) {
    if (args.length > 0) throw new ToolkitError('usage', 'usage: members');
    const service = ctx.requireService();
    const [members, info] = await Promise.all([ctx.api.members(service), ctx.api.info()]);
    return { kind: 'members', service, members, group: info.group ?? null };
  },
});
