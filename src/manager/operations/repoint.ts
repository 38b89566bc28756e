/** After a change of master: the other slaves follow the new one, and what the step log says of those that do not. */
import type { OperationContext, TaskContext } from './context.js';

/**
 * Every other reachable slave replicates from the new master, once the driver confirms it can
 * without diverging. One that cannot (errant transactions) is left where it is and FAILED with the
 * reason, for the operator; one that does not answer follows when the monitor recovers it.
 * Returns the slaves that do not follow the new master.
 */
export async function repointSlaves(ctx: OperationContext, task: TaskContext, newMaster: string, skip: string[]): Promise<string[]> {
  const notFollowing: string[] = [];
  const q = ctx.qualified.bind(ctx);
  for (const r of ctx.records()) {
    if (r.name === newMaster || skip.includes(r.name) || r.role === 'master' || r.state === 'SHUNNED' || r.state === 'FAILED') continue;
    const cfg = ctx.configOf(r.name);
    const masterCfg = ctx.configOf(newMaster);
    try {
      const check = await ctx.call(task, `checking that ${r.name} can follow ${newMaster}`, (o) => ctx.driver.checkRejoin(cfg, masterCfg, o));
      if (!check.ok) {
        task.step(`SLAVE '${q(r.name)}' CANNOT FOLLOW '${q(newMaster)}': ${check.reason}`);
        r.state = 'FAILED';
        r.lastError = `CANNOT FOLLOW '${q(newMaster)}': ${check.reason}`;
        r.fencedByMonitor = false;
        ctx.changed();
        notFollowing.push(r.name);
        continue;
      }
      await ctx.call(task, `repointing ${r.name}`, (o) => ctx.driver.replicateFrom(cfg, masterCfg, o));
      task.step(`SLAVE '${q(r.name)}' NOW REPLICATES FROM '${q(newMaster)}'`);
    } catch (e) {
      task.step(`COULD NOT REPOINT SLAVE '${q(r.name)}': ${e instanceof Error ? e.message : String(e)}`);
      notFollowing.push(r.name);
    }
  }
  return notFollowing;
}

/** `; 1 SLAVE DOES NOT FOLLOW THE NEW MASTER: db3` or nothing. */
export function followUp(notFollowing: string[]): string {
  if (notFollowing.length === 0) return '';
  return `; ${notFollowing.length} SLAVE${notFollowing.length > 1 ? 'S DO' : ' DOES'} NOT FOLLOW THE NEW MASTER: ${notFollowing.join(', ')}`;
}
