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
      ctx.setPolicy(before, null);
      task.step(`REVERT POLICY: MAINTENANCE => ${before}`);
    }
  }
}
