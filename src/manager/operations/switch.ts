/**
 * switch [to HOST]: a planned promotion. Fence writes on the master, let the chosen slave apply
 * everything, promote it, make the old master its slave, repoint the rest, tell the connectors.
 * A failed step puts the old master back. The dry run evaluates and changes nothing.
 */
import { ToolkitError } from '../../errors.js';
import { selectCandidate } from '../candidates.js';
import type { OperationContext, OperationResult, TaskContext } from './context.js';
import { evaluateAndLog } from './candidates-step.js';
import { masterNotOnlineHint } from './master-hint.js';
import { holdMaintenance } from './policy-hold.js';
import { followUp, repointSlaves } from './repoint.js';

export function planSwitch(ctx: OperationContext, target: string | undefined, dryRun: boolean) {
  const master = ctx.master();
  if (!master || master.state !== 'ONLINE') {
    const state = master ? master.state : 'missing';
    throw new ToolkitError('refused', `cannot switch: the master${master ? ` '${ctx.qualified(master.name)}'` : ''} is ${state}`, master ? masterNotOnlineHint(master) : "Use 'recover' or 'failover'.");
  }
  if (target !== undefined) {
    ctx.record(target);
    if (target === master.name) throw new ToolkitError('usage', `'${ctx.qualified(target)}' is already the master`);
  }
  return {
    exclusive: !dryRun,
    run: (task: TaskContext) => (dryRun ? dryRunSwitch(ctx, task, master.name, target) : runSwitch(ctx, task, master.name, target)),
  };
}

async function dryRunSwitch(ctx: OperationContext, task: TaskContext, masterName: string, target?: string): Promise<OperationResult> {
  const observations = await ctx.observeAll(task.signal);
  const evaluated = evaluateAndLog(ctx, task, observations, masterName, 'switch', target);
  const choice = selectCandidate(evaluated);
  if ('name' in choice) task.step(`DRY RUN: WOULD SWITCH TO '${ctx.qualified(choice.name)}'; NOTHING WAS CHANGED`);
  else task.step(`DRY RUN: ${choice.refusal.toUpperCase()}; NOTHING WAS CHANGED`);
  return {
    dryRun: true,
    wouldSelect: 'name' in choice ? choice.name : null,
    refusal: 'refusal' in choice ? choice.refusal : null,
    candidates: evaluated.map((c) => ({ name: c.name, eligible: c.eligible, reason: c.reason, appliedSeqno: c.appliedSeqno, storedSeqno: c.storedSeqno, latency: c.latency, precedence: c.precedence })),
  };
}

async function runSwitch(ctx: OperationContext, task: TaskContext, masterName: string, target?: string): Promise<OperationResult> {
  return holdMaintenance(ctx, task, async () => {
    const observations = await ctx.observeAll(task.signal);
    const choice = selectCandidate(evaluateAndLog(ctx, task, observations, masterName, 'switch', target));
    if ('refusal' in choice) throw new ToolkitError('refused', choice.refusal);
    const chosen = choice.name;
    const oldCfg = ctx.configOf(masterName);
    const newCfg = ctx.configOf(chosen);
    const q = ctx.qualified.bind(ctx);
    task.step(`SELECTED SLAVE: ${q(chosen)}`);
    let fenced = false;
    let promoted = false;
    let priorDiverged: string | null = null;
    try {
      await ctx.holdRouters(task, `switch from ${masterName} to ${chosen}`);
      task.step(`PURGE REMAINING ACTIVE SESSIONS ON CURRENT MASTER '${q(masterName)}'`);
      fenced = true;
      // From here the write guard keeps it read-only too: a master that restarts writable mid-switch is fenced again.
      ctx.requireFence(task, masterName);
      const purged = await ctx.call(task, `fencing writes on ${masterName}`, (o) => ctx.driver.fenceWrites(oldCfg, o));
      task.step(`PURGED A TOTAL OF ${purged} ACTIVE SESSIONS ON MASTER '${q(masterName)}'`);
      task.step(`FLUSH TRANSACTIONS ON CURRENT MASTER '${q(masterName)}'`);
      await waitForEverything(ctx, task, masterName, chosen);
      promoted = true;
      ctx.willPromote(task, chosen);
      await ctx.call(task, `promoting ${chosen}`, (o) => ctx.driver.promote(newCfg, o));
      task.step(`PUT THE NEW MASTER '${q(chosen)}' ONLINE`);
      // It may have restarted writable and taken writes during the promotion: then it cannot follow,
      // and says so, rather than be called a slave while its replication breaks.
      const check = await ctx.call(task, `checking that ${masterName} can follow ${chosen}`, (o) => ctx.driver.checkRejoin(ctx.configOf(masterName), newCfg, o));
      if (check.ok) {
        await ctx.call(task, `making ${masterName} a slave of ${chosen}`, (o) => ctx.driver.replicateFrom(ctx.configOf(masterName), newCfg, o));
        task.step(`PUT THE PRIOR MASTER '${q(masterName)}' ONLINE AS A SLAVE`);
      } else {
        priorDiverged = check.reason;
        task.step(`THE PRIOR MASTER '${q(masterName)}' TOOK WRITES AFTER ITS FENCE AND CANNOT FOLLOW '${q(chosen)}': ${check.reason}`);
      }
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      task.step(`SWITCH TO '${q(chosen)}' FAILED: ${reason}`);
      const revertFailures = await revert(ctx, task, masterName, chosen, { fenced, promoted });
      if (revertFailures.length === 0) throw new ToolkitError('refused', `switch to '${q(chosen)}' failed and was reverted: ${reason}`);
      throw new ToolkitError(
        'refused',
        `switch to '${q(chosen)}' failed: ${reason}; the revert did not complete (${revertFailures.join('; ')}): check the service with ls`,
      );
    }
    const oldRecord = ctx.record(masterName);
    const newRecord = ctx.record(chosen);
    oldRecord.role = 'slave';
    newRecord.role = 'master';
    for (const r of [oldRecord, newRecord]) {
      r.state = 'ONLINE';
      r.lastError = null;
      r.fencedByMonitor = false;
    }
    if (priorDiverged) {
      // Read-only (the write guard keeps it so) until an operator reconciles it: 'recover' names what it holds.
      oldRecord.state = 'FAILED';
      oldRecord.lastError = `CANNOT FOLLOW '${q(chosen)}': ${priorDiverged}`;
    }
    ctx.changed();
    const notFollowing = [...(priorDiverged ? [masterName] : []), ...(await repointSlaves(ctx, task, chosen, [masterName]))];
    await ctx.notifyRouters(task);
    task.step(`SWITCH TO '${q(chosen)}' WAS SUCCESSFUL${followUp(notFollowing)}`);
    return { newPrimary: chosen, oldPrimary: masterName, ...(notFollowing.length > 0 ? { slavesNotFollowing: notFollowing } : {}) };
  });
}

/**
 * Waits until the candidate has applied everything the fenced master holds. A master that took
 * writes after its fence (it restarted writable meanwhile) is fenced again and waited for again;
 * one that keeps doing so, or stops answering, fails the switch.
 */
async function waitForEverything(ctx: OperationContext, task: TaskContext, masterName: string, chosen: string): Promise<void> {
  const q = ctx.qualified.bind(ctx);
  const oldCfg = ctx.configOf(masterName);
  const newCfg = ctx.configOf(chosen);
  const readPosition = () => ctx.call(task, `reading the position of ${masterName}`, (o) => ctx.driver.position(oldCfg, o));
  let position = await readPosition();
  for (let round = 1; ; round++) {
    await ctx.call(task, `waiting for ${chosen} to apply seqno ${position.seqno}`, (o) => ctx.driver.waitApplied(newCfg, position, o));
    // Fenced again just before the last look, so what it holds then is final. One that stops
    // answering may come back with writes the candidate lacks: the switch stops (and is reverted)
    // rather than promote without knowing; a failover then accounts for it.
    const now = await ctx
      .call(task, `fencing writes on ${masterName}`, (o) => ctx.driver.fenceWrites(oldCfg, o))
      .then(readPosition)
      .catch((e: unknown) => {
        throw new Error(`${masterName} stopped answering before its last position could be checked again (${e instanceof Error ? e.message : String(e)})`);
      });
    if (now.seqno <= position.seqno) return;
    if (round === 3) throw new Error(`${masterName} keeps accepting writes after it was fenced (seqno ${now.seqno} > ${position.seqno})`);
    task.step(`PRIOR MASTER '${q(masterName)}' ACCEPTED WRITES AFTER ITS FENCE (SEQNO ${now.seqno} > ${position.seqno}): WAITING FOR THEM TOO`);
    position = now;
  }
}

/**
 * Puts the old master back as it was: writable, the promoted slave replicating from it again.
 * Returns what could not be undone (`allowing writes on db1: <reason>`), empty when all was.
 */
async function revert(
  ctx: OperationContext,
  task: TaskContext,
  masterName: string,
  chosen: string,
  done: { fenced: boolean; promoted: boolean },
): Promise<string[]> {
  const q = ctx.qualified.bind(ctx);
  const failures: string[] = [];
  const attempt = async (line: string, what: string, work: Parameters<OperationContext['call']>[2]): Promise<boolean> => {
    task.step(line);
    try {
      await ctx.call({ ...task, signal: new AbortController().signal }, what, work);
      return true;
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      task.step(`COULD NOT ${line}: ${reason}`);
      failures.push(`${what}: ${reason}`);
      return false;
    }
  };
  let candidateReadOnly = true;
  if (done.promoted) {
    candidateReadOnly =
      (await attempt(`REPOINT '${q(chosen)}' TO REPLICATE FROM '${q(masterName)}'`, `repointing ${chosen}`, (o) =>
        ctx.driver.replicateFrom(ctx.configOf(chosen), ctx.configOf(masterName), o),
      )) || (await attempt(`FENCE '${q(chosen)}'`, `fencing writes on ${chosen}`, (o) => ctx.driver.fenceWrites(ctx.configOf(chosen), o)));
  }
  if (done.fenced && !candidateReadOnly) {
    // The candidate may take writes: the old master stays read-only rather than be a second one.
    task.step(`LEFT THE PRIOR MASTER '${q(masterName)}' READ-ONLY: '${q(chosen)}' MAY STILL ACCEPT WRITES`);
    failures.push(`${masterName} left read-only because ${chosen} could not be made read-only`);
  } else if (done.fenced) {
    ctx.releaseFence(task, masterName);
    await attempt(`PUT THE PRIOR MASTER '${q(masterName)}' BACK ONLINE`, `allowing writes on ${masterName}`, (o) => ctx.driver.allowWrites(ctx.configOf(masterName), o));
  }
  try {
    await ctx.notifyRouters({ ...task, signal: new AbortController().signal });
  } catch (e) {
    task.step(`COULD NOT NOTIFY THE CONNECTORS: ${e instanceof Error ? e.message : String(e)}`);
  }
  return failures;
}
