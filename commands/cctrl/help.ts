import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';

export default defineCommand({
  name: 'help',
  usage: 'help [COMMAND]',
  summary: 'list the commands, or explain one',
  complete: (args, ctx) => (args.length === 0 ? ctx.commands.commandNames() : []),
  async run(ctx, args) {
    if (args.length > 1) throw new ToolkitError('usage', 'usage: help [COMMAND]');
    if (args.length === 0) return { kind: 'help', command: null, text: ctx.commands.helpOverview() };
    const spec = ctx.commands.findCommand(args[0]!);
    if (!spec) throw new ToolkitError('usage', `no command '${args[0]}'`, 'type help for the list');
    return { kind: 'help', command: spec.name, text: ctx.commands.helpFor(spec) };
  },
});
