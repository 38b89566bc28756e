import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'expert',
  usage: 'expert',
  summary: 'enter expert mode: expert-level commands no longer ask for confirmation',
  expertLevel: () => true,
  async run(ctx, args) {
    if (args.length > 0) throw new ToolkitError('usage', 'usage: expert');
    ctx.session.expert = true;
    return { kind: 'expert', expert: true };
  },
});
