import { ToolkitError } from '../../src/errors.js';
import type { FaultAction } from '../../src/manager/model.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

const USAGE = 'service HOST/mysql|replicator|host start|stop';

/** `service db1/mysql stop` on the simulated cluster is fault injection. */
const FAULTS: Record<string, Record<string, FaultAction>> = {
  mysql: { stop: 'dataserver-stop', start: 'dataserver-start' },
  replicator: { stop: 'replicator-stop', start: 'replicator-start' },
  host: { stop: 'host-down', start: 'host-up' },
};

export default defineCommand({
  name: 'service',
  usage: USAGE,
  summary: "start or stop a host's database, replicator or the host itself (fault injection on the demo)",
  complete: (args, ctx) =>
    args.length === 0 ? ctx.datasources.flatMap((d) => Object.keys(FAULTS).map((s) => `${d}/${s}`)) : args.length === 1 ? ['start', 'stop'] : [],
  async run(ctx, args) {
    const [target, action] = args;
    const [host, component] = (target ?? '').split('/');
    const fault = component !== undefined && action !== undefined ? FAULTS[component]?.[action] : undefined;
    if (args.length !== 2 || !host || !fault) throw new ToolkitError('usage', `usage: ${USAGE}`);
    const task = await runTask(ctx, { op: 'fault', host, fault });
    return { kind: 'task', operation: task.operation, task };
  },
});
