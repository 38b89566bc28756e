import { ToolkitError } from '../../src/errors.js';
import { DATASOURCE_ACTIONS, type DataSourceAction } from '../../src/manager/model.js';
import { datasourceName } from '../../src/shell/names.js';
import { EXPERT_LEVEL_MEANS, defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

const USAGE = `datasource HOST ${DATASOURCE_ACTIONS.join('|')}`;

export default defineCommand({
  name: 'datasource',
  usage: USAGE,
  summary: 'change the state of one datasource',
  help: `shun: take it out of service; welcome: bring a shunned one back; recover: back as a slave;\nfail: mark it FAILED (expert-level: ${EXPERT_LEVEL_MEANS}).`,
  expertLevel: (args) => args[1] === 'fail',
  complete: (args, ctx) => (args.length === 0 ? ctx.datasources : args.length === 1 ? [...DATASOURCE_ACTIONS] : []),
  async run(ctx, args) {
    const [host, action] = args;
    if (args.length !== 2 || !host || !DATASOURCE_ACTIONS.includes(action as DataSourceAction)) {
      throw new ToolkitError('usage', `usage: ${USAGE}`);
    }
    const task = await runTask(ctx, { op: 'datasource', host: await datasourceName(ctx, host), action: action as DataSourceAction });
    return { kind: 'task', operation: task.operation, task };
  },
});
