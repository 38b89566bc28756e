/**
 * failover [to HOST]: only when the master is FAILED. The chosen slave applies everything it has
 * received, is promoted, the other slaves follow it, and the failed master is SHUNNED with the
 * reason FAILED-OVER-TO-<new>. The old master comes back with `recover`.
 */
import { ToolkitError } from '../../errors.js';
import { selectCandidate } from '../candidates.js';
import type { OperationContext, OperationResult, TaskContext } from './context.js';
import { evaluateAndLog } from './candidates-step.js';
import { masterNotOnlineHint } from './master-hint.js';
import { holdMaintenance } from './policy-hold.js';
import { repointSlaves } from './switch.js';

export function planFailover(ctx: OperationContext, target: string | undefined, automatic: boolean) {
  const master = ctx.master();
  if (!master) throw new ToolkitError('refused', `cannot fail over: service '${ctx.service}' has no master`, "Use 'recover'.");
  if (master.state !== 'FAILED') {
    const hint = master.state === 'ONLINE' ? "Use 'switch' for a planned change of master." : masterNotOnlineHint(master);
    throw new ToolkitError('refused', `cannot fail over: the master '${ctx.qualified(master.name)}' is ${master.state}, not FAILED`, hint);
  }
  if (target !== undefined) {
    ctx.record(target);
    if (target === master.name) throw new ToolkitError('usage', `'${ctx.qualified(target)}' is the failed master`);
  }
  return {
    exclusive: true,
    run: (task: TaskContext) =>
      automatic ? runFailover(ctx, task, master.name, target) : holdMaintenance(ctx, task, () => runFailover(ctx, task, master.name, target)),
  };
}

async function runFailover(ctx: OperationContext, task: TaskContext, failedName: string, target?: string): Promise<OperationResult> {
  const q = ctx.qualified.bind(ctx);
  const failed = ctx.record(failedName);
  if (failed.lastError) task.step(`MASTER '${q(failedName)}' FAILED: ${failed.lastError}`);
  const observations = await ctx.observeAll(task.signal);
  const evaluated = evaluateAndLog(ctx, task, observations, failedName, target);
  const choice = selectCandidate(evaluated);
  if ('refusal' in choice) throw new ToolkitError('refused', choice.refusal);
  const chosen = choice.name;
  const newCfg = ctx.configOf(chosen);
  task.step(`SELECTED SLAVE: ${q(chosen)}`);
  const stored = evaluated.find((c) => c.name === chosen)?.storedSeqno ?? 0;
  task.step(`WAIT FOR '${q(chosen)}' TO APPLY ALL RECEIVED TRANSACTIONS (seqno ${stored})`);
  const waitMs = ctx.props.failoverApplyWaitTimeoutSeconds * 1000;
  await ctx.call(task, `waiting for ${chosen} to apply seqno ${stored}`, (o) => ctx.driver.waitApplied(newCfg, { seqno: stored }, o), waitMs);
  await ctx.call(task, `promoting ${chosen}`, (o) => ctx.driver.promote(newCfg, o));
  task.step(`PUT THE NEW MASTER '${q(chosen)}' ONLINE`);
  const newRecord = ctx.record(chosen);
  newRecord.role = 'master';
  newRecord.state = 'ONLINE';
  failed.state = 'SHUNNED';
  failed.lastShunReason = `FAILED-OVER-TO-${chosen}`;
  failed.fencedByMonitor = false;
  ctx.changed();
  task.step(`SHUNNED THE FAILED MASTER '${q(failedName)}' (FAILED-OVER-TO-${chosen})`);
  await repointSlaves(ctx, task, chosen, [failedName]);
  await ctx.notifyRouters(task);
  task.step(`FAILOVER TO '${q(chosen)}' WAS SUCCESSFUL`);
  return { newPrimary: chosen, oldPrimary: failedName };
}
