/**
 * failover [to HOST]: only when the master is FAILED (or an operator shunned it). The chosen slave
 * is the one that received the most; the task says how many transactions seen on the failed master
 * it lacks (refused past policy.failover.maxLostTransactions). The failed master is fenced first,
 * or the moment it answers again; then the chosen slave applies everything it received, is
 * promoted, the other slaves follow it, and the failed master is SHUNNED with the reason
 * FAILED-OVER-TO-<new>. The old master comes back with `recover`.
 */
import { ToolkitError } from '../../errors.js';
import { selectCandidate } from '../candidates.js';
import type { DataSourceRecord } from '../store.js';
import { PROMPT_ANSWER_MS, type OperationContext, type OperationResult, type TaskContext } from './context.js';
import { evaluateAndLog } from './candidates-step.js';
import { masterNotOnlineHint } from './master-hint.js';
import { holdMaintenance } from './policy-hold.js';
import { followUp, repointSlaves } from './repoint.js';

/** A master an operator shunned without replacing it: failover is its way out. */
export function shunnedMaster(ctx: OperationContext): DataSourceRecord | null {
  if (ctx.master()) return null;
  return ctx.records().find((r) => r.role === 'master' && r.state === 'SHUNNED' && !r.lastShunReason?.startsWith('FAILED-OVER-TO-')) ?? null;
}

export function planFailover(ctx: OperationContext, target: string | undefined, automatic: boolean) {
  const master = ctx.master() ?? shunnedMaster(ctx);
  if (!master) throw new ToolkitError('refused', `cannot fail over: service '${ctx.service}' has no master`, "Use 'recover'.");
  if (master.state !== 'FAILED' && master.state !== 'SHUNNED') {
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
      automatic ? runFailover(ctx, task, master.name, target, false) : holdMaintenance(ctx, task, () => runFailover(ctx, task, master.name, target, true)),
  };
}

/** How much a failover to a candidate that received `receivedSeqno` loses of what the failed master was last seen holding. */
export function lossEstimate(lastSeenSeqno: number | null, receivedSeqno: number | null): number | null {
  if (lastSeenSeqno === null || receivedSeqno === null) return null;
  return Math.max(0, lastSeenSeqno - receivedSeqno);
}

async function runFailover(ctx: OperationContext, task: TaskContext, failedName: string, target: string | undefined, byOperator: boolean): Promise<OperationResult> {
  const q = ctx.qualified.bind(ctx);
  const failed = ctx.record(failedName);
  if (failed.lastError) task.step(`MASTER '${q(failedName)}' FAILED: ${failed.lastError}`);
  else if (failed.state === 'SHUNNED') task.step(`MASTER '${q(failedName)}' IS SHUNNED`);
  // The candidates' answers in full; the failed master's only if it gives one promptly (a frozen one would hold the failover for a whole timeout).
  const observations = await ctx.observeAll(task.signal, { of: new Set([failedName]), ms: PROMPT_ANSWER_MS });
  const evaluated = evaluateAndLog(ctx, task, observations, failedName, 'failover', target, byOperator);
  const choice = selectCandidate(evaluated);
  if ('refusal' in choice) throw new ToolkitError('refused', choice.refusal);
  const chosen = choice.name;
  const chosenEval = evaluated.find((c) => c.name === chosen)!;
  const seen = ctx.lastSeen(failedName);
  const mayLose = lossEstimate(seen?.seqno ?? null, chosenEval.storedSeqno);
  const seenAt = seen ? new Date(seen.at).toISOString() : null;
  const loss = {
    mayLoseTransactions: mayLose,
    masterLastSeen: seen ? { seqno: seen.seqno, gtid: seen.gtidState, time: seenAt } : null,
    candidateReceivedSeqno: chosenEval.storedSeqno,
  };
  if (seen && mayLose !== null) {
    task.step(
      `MASTER '${q(failedName)}' WAS LAST SEEN AT SEQNO ${seen.seqno} (${seenAt}); '${q(chosen)}' RECEIVED SEQNO ${chosenEval.storedSeqno}: ` +
        `${mayLose} TRANSACTION(S) SEEN ON THE MASTER MAY BE LOST, AND ANY IT COMMITTED AFTER ${seenAt}`,
    );
  } else {
    task.step(`THE POSITION OF MASTER '${q(failedName)}' WAS NEVER SEEN: HOW MUCH MAY BE LOST IS UNKNOWN`);
  }
  const limit = ctx.props.policy.failoverMaxLostTransactions;
  if (limit >= 0 && (mayLose === null || mayLose > limit)) {
    throw new ToolkitError(
      'refused',
      `cannot fail over to '${q(chosen)}': it would lose ${mayLose === null ? 'an unknown number of' : mayLose} transaction(s) seen on '${q(failedName)}', more than policy.failover.maxLostTransactions=${limit}`,
      `Bring '${failedName}' back ('datasource ${failedName} recover' once its server answers), or raise the limit to accept the loss.`,
    );
  }
  task.step(`SELECTED SLAVE: ${q(chosen)}`);
  task.report({ newPrimary: chosen, oldPrimary: failedName, ...loss });
  task.step(`FENCING THE FAILED MASTER '${q(failedName)}'`);
  await ctx.fenceNow(task, failedName);
  const newCfg = ctx.configOf(chosen);
  const stored = chosenEval.storedSeqno ?? 0;
  task.step(`WAIT FOR '${q(chosen)}' TO APPLY ALL RECEIVED TRANSACTIONS (seqno ${stored})`);
  const waitMs = ctx.props.failoverApplyWaitTimeoutSeconds * 1000;
  await ctx.call(task, `waiting for ${chosen} to apply seqno ${stored}`, (o) => ctx.driver.waitApplied(newCfg, { seqno: stored }, o), waitMs);
  ctx.willPromote(task, chosen);
  await ctx.call(task, `promoting ${chosen}`, (o) => ctx.driver.promote(newCfg, o));
  task.step(`PUT THE NEW MASTER '${q(chosen)}' ONLINE`);
  const newRecord = ctx.record(chosen);
  newRecord.role = 'master';
  newRecord.state = 'ONLINE';
  newRecord.lastError = null;
  newRecord.fencedByMonitor = false;
  failed.state = 'SHUNNED';
  failed.lastShunReason = `FAILED-OVER-TO-${chosen}`;
  failed.fencedByMonitor = false;
  ctx.changed();
  task.step(`SHUNNED THE FAILED MASTER '${q(failedName)}' (FAILED-OVER-TO-${chosen})`);
  const notFollowing = await repointSlaves(ctx, task, chosen, [failedName]);
  await ctx.notifyRouters(task, { endImmediately: true });
  task.step(`FAILOVER TO '${q(chosen)}' WAS SUCCESSFUL${followUp(notFollowing)}`);
  return { newPrimary: chosen, oldPrimary: failedName, ...loss, ...(notFollowing.length > 0 ? { slavesNotFollowing: notFollowing } : {}) };
}
