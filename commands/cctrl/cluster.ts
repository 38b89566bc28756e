import { ToolkitError } from '../../src/errors.js';
import { healthVerdict } from '../../src/format/health.js';
import { defineCommand } from '../../src/shell/command.js';
import { runTask } from '../../src/shell/tasks.js';

export default defineCommand({
  name: 'cluster',
  usage: 'cluster heartbeat|validate',
  summary: 'send a heartbeat through the service, or check that its managers have a quorum',
  complete: (args) => (args.length === 0 ? ['heartbeat', 'validate'] : []),
  async run(ctx, args) {
    if (args.length === 1 && args[0] === 'heartbeat') {
      const task = await runTask(ctx, { op: 'heartbeat' });
      return { kind: 'task', operation: task.operation, task };
    }
    if (args.length === 1 && args[0] === 'validate') {
      const service = ctx.requireService();
      const [members, info, status] = await Promise.all([ctx.api.members(service), ctx.api.info(), ctx.api.serviceStatus(service).catch(() => null)]);
      const group = info.group ?? null;
      const majority = Math.floor(members.length / 2) + 1;
      const reachable = members.filter((m) => m.state === 'ONLINE').map((m) => m.name);
      // In a group on etcd, the quorum is etcd's: the members listed are those whose leases live.
      const valid = group?.kind === 'etcd' ? group.quorum && group.coordinator !== null : reachable.length >= majority;
      return { kind: 'validate', service, members: members.map((m) => m.name), reachable, majority, valid, group, health: status ? healthVerdict(status) : null };
    }
    throw new ToolkitError('usage', 'usage: cluster heartbeat|validate');
  },
});
