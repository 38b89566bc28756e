import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';
import { commandNames, findCommand, helpOverview, helpFor } from '../../src/shell/registry.js';

export default defineCommand({
  name: 'help',
  usage: 'help [COMMAND]',
  summary: 'list the commands, or explain one',
  complete: (args) => (args.length === 0 ? commandNames() : []),
  async run(_ctx, args) {
    if (args.length > 1) throw new ToolkitError('usage', 'usage: help [COMMAND]');
    if (args.length === 0) return { kind: 'help', command: null, text: helpOverview() };
    const spec = findCommand(args[0]!);
    if (!spec) throw new ToolkitError('usage', `no command '${args[0]}'`, 'type help for the list');
    return { kind: 'help', command: spec.name, text: helpFor(spec) };
  },
});
