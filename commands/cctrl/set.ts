import { ToolkitError } from '../../src/errors.js';
import { POLICY_MODES, type PolicyMode } from '../../src/manager/model.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

const MODES = POLICY_MODES.map((m) => m.toLowerCase());
const USAGE = `set policy ${MODES.join('|')}`;

export default defineCommand({
  name: 'set',
  usage: USAGE,
  summary: 'set the policy mode of the service',
  help: 'automatic: detect, fail over and recover; manual: detect and isolate only; maintenance: all rules off.',
  complete: (args) => (args.length === 0 ? ['policy'] : args.length === 1 && args[0] === 'policy' ? MODES : []),
  async run(ctx, args) {
    const mode = args[1]?.toUpperCase() as PolicyMode | undefined;
    if (args.length !== 2 || args[0] !== 'policy' || !mode || !POLICY_MODES.includes(mode)) {
      throw new ToolkitError('usage', `usage: ${USAGE}`);
    }
    const task = await runTask(ctx, { op: 'policy', mode });
    return { kind: 'policy', policy: mode, task };
  },
});
