import { ToolkitError } from '../../src/errors.js';
import type { FaultAction } from '../../src/manager/model.js';
import { datasourceName } from '../../src/shell/names.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

/** mysql also takes kill (kill -9), freeze (SIGSTOP) and thaw (SIGCONT). */
const USAGE = 'service HOST/mysql|replicator|host start|stop';

/** `service db1/mysql stop` on the simulated cluster is fault injection. */
const FAULTS: Record<string, Record<string, FaultAction>> = {
  mysql: { stop: 'dataserver-stop', start: 'dataserver-start', kill: 'dataserver-kill', freeze: 'dataserver-freeze', thaw: 'dataserver-thaw' },
  replicator: { stop: 'replicator-stop', start: 'replicator-start' },
  host: { stop: 'host-down', start: 'host-up' },
};

export default defineCommand({
  name: 'service',
  usage: USAGE,
  summary: "start or stop a host's database, replicator or the host itself; kill, freeze or thaw its database (fault injection on the demo)",
  complete: (args, ctx) =>
    args.length === 0 ? ctx.datasources.flatMap((d) => Object.keys(FAULTS).map((s) => `${d}/${s}`)) : args.length === 1 ? Object.keys(FAULTS[args[0]!.split('/')[1] ?? ''] ?? { start: 1, stop: 1 }) : [],
  async run(ctx, args) {
    const [target, action] = args;
    const [host, component] = (target ?? '').split('/');
    const fault = component !== undefined && action !== undefined ? FAULTS[component]?.[action] : undefined;
    if (args.length !== 2 || !host || !fault) throw new ToolkitError('usage', `usage: ${USAGE}`);
    const task = await runTask(ctx, { op: 'fault', host: await datasourceName(ctx, host), fault });
    return { kind: 'task', operation: task.operation, task };
  },
});
