import { ToolkitError } from '../../src/errors.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

export default defineCommand({
  name: 'recover',
  usage: 'recover',
  summary: 'bring failed and shunned datasources of the service back as slaves',
  async run(ctx, args) {
    if (args.length > 0) throw new ToolkitError('usage', 'usage: recover (to recover one datasource: datasource HOST recover)');
    const task = await runTask(ctx, { op: 'recover' });
    return { kind: 'task', operation: task.operation, task };
  },
});
