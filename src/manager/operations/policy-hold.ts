/** Operations that change the cluster hold the policy at MAINTENANCE and put it back afterwards. */
import type { OperationContext, TaskContext } from './context.js';

export async function holdMaintenance<T>(ctx: OperationContext, task: TaskContext, work: () => Promise<T>): Promise<T> {
  const before = ctx.policy();
  if (before !== 'MAINTENANCE') {
    task.step(`SET POLICY: ${before} => MAINTENANCE`);
    ctx.setPolicy('MAINTENANCE', { taskId: task.id, restore: before });
  }
  try {
    return await work();
  } finally {
    if (before !== 'MAINTENANCE') {
      // An operator who froze automation meanwhile (set policy maintenance) keeps it frozen.
      const restore = ctx.heldPolicy()?.taskId === task.id ? ctx.heldPolicy()!.policy : before;
      ctx.setPolicy(restore, null);
      task.step(restore === 'MAINTENANCE' ? 'POLICY STAYS MAINTENANCE (SET BY AN OPERATOR DURING THE OPERATION)' : `REVERT POLICY: MAINTENANCE => ${restore}`);
    }
  }
}
