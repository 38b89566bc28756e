/**
 * `datasource HOST online|offline|shun|welcome|recover|fail`: legal transitions only; an illegal
 * one is a conflict that names the current state and what to do instead.
 */
import { ToolkitError } from '../../errors.js';
import type { Observation } from '../drivers/driver.js';
import type { DataSourceAction, ResourceState } from '../model.js';
import type { DataSourceRecord } from '../store.js';
import type { OperationContext, OperationResult, TaskContext } from './context.js';
import { planDatasourceRecover } from './recover.js';

/** From which states each action is legal. */
const LEGAL_FROM: Record<DataSourceAction, readonly ResourceState[]> = {
  online: ['OFFLINE'],
  offline: ['ONLINE'],
  shun: ['ONLINE', 'OFFLINE', 'FAILED'],
  welcome: ['SHUNNED'],
  recover: ['FAILED', 'SHUNNED'],
  fail: ['ONLINE', 'OFFLINE'],
};

const INSTEAD: Partial<Record<ResourceState, string>> = {
  SHUNNED: "use 'welcome' or 'recover'",
  FAILED: "use 'recover'",
  OFFLINE: "use 'online'",
};

export function planDatasource(ctx: OperationContext, name: string, action: DataSourceAction) {
  const r = ctx.record(name);
  // Runbooks bring a datasource online whatever state it is in: already ONLINE is done, not an error.
  if ((action === 'online' || action === 'welcome') && r.state === 'ONLINE') {
    return {
      exclusive: false,
      run: (task: TaskContext) => {
        task.step(`DataSource '${r.name}' is already ONLINE: nothing to do`);
        return { datasource: r.name, from: r.state, to: r.state, unchanged: true };
      },
    };
  }
  if (!LEGAL_FROM[action].includes(r.state)) {
    const hint = INSTEAD[r.state];
    throw new ToolkitError('conflict', `cannot ${action} datasource '${ctx.qualified(name)}': it is ${r.state}`, hint ? `It is ${r.state}: ${hint}.` : undefined);
  }
  const master = ctx.master();
  if (action === 'shun' && master === r && r.state === 'ONLINE') {
    throw new ToolkitError('conflict', `cannot shun datasource '${ctx.qualified(name)}': it is the ONLINE master`, "Run 'switch' first.");
  }
  if (action === 'welcome' && r.role === 'master' && master !== null && master !== r) {
    throw new ToolkitError('conflict', `cannot welcome datasource '${ctx.qualified(name)}': it is SHUNNED and '${ctx.qualified(master.name)}' is the master now`, `Use 'datasource ${name} recover' to bring it back as a slave.`);
  }
  if (action === 'recover') return planDatasourceRecover(ctx, r);
  return { exclusive: true, run: (task: TaskContext) => transition(ctx, task, r, action) };
}

/**
 * A slave coming back must replicate from the current master: one that follows another server (a
 * dead old master, say) is repointed, once the driver confirms it can without diverging; otherwise
 * the call is refused with what to do.
 */
async function followTheMaster(ctx: OperationContext, task: TaskContext, r: DataSourceRecord, obs: Observation): Promise<void> {
  const master = ctx.master();
  if (!master || master === r || r.role === 'master') return;
  const rep = obs.replicator;
  if (rep && rep.role === 'slave' && rep.masterHost === master.name) return;
  const q = ctx.qualified.bind(ctx);
  const now = rep && rep.role === 'slave' && rep.masterHost ? `replicates from '${rep.masterHost}'` : 'does not replicate';
  if (master.state !== 'ONLINE') {
    throw new ToolkitError('refused', `cannot put '${q(r.name)}' online: it ${now} and the master '${q(master.name)}' is ${master.state}`, "Bring the master back first ('recover' or 'failover').");
  }
  task.step(`'${q(r.name)}' ${now.toUpperCase()}, NOT FROM THE MASTER '${q(master.name)}': REPOINTING IT`);
  const cfg = ctx.configOf(r.name);
  const masterCfg = ctx.configOf(master.name);
  const check = await ctx.call(task, `checking that ${r.name} can follow ${master.name}`, (o) => ctx.driver.checkRejoin(cfg, masterCfg, o));
  if (!check.ok) {
    throw new ToolkitError('refused', `cannot put '${q(r.name)}' online: it cannot follow '${q(master.name)}': ${check.reason}`, `Rebuild '${r.name}' from '${master.name}' (or reconcile its transactions), then 'datasource ${r.name} recover'.`);
  }
  await ctx.call(task, `making ${r.name} a slave of ${master.name}`, (o) => ctx.driver.replicateFrom(cfg, masterCfg, o));
  task.step(`SLAVE '${q(r.name)}' NOW REPLICATES FROM '${q(master.name)}'`);
}

/**
 * A shunned master welcomed back while the service has no master becomes the master: only if no
 * other server holds transactions it lacks (a later master's writes would be lost). A server that
 * does not answer cannot be asked; the step log says so.
 */
async function requireMostAdvanced(ctx: OperationContext, task: TaskContext, r: DataSourceRecord): Promise<void> {
  const q = ctx.qualified.bind(ctx);
  const cfg = ctx.configOf(r.name);
  for (const other of ctx.records()) {
    if (other === r) continue;
    const check = await ctx.call(task, `checking that ${other.name} holds nothing ${r.name} lacks`, (o) => ctx.driver.checkRejoin(ctx.configOf(other.name), cfg, o)).catch((e: unknown) => ({
      ok: true as const,
      unknown: e instanceof Error ? e.message : String(e),
    }));
    if ('unknown' in check) {
      task.step(`COULD NOT ASK '${q(other.name)}' (${check.unknown}): IT MAY HOLD TRANSACTIONS '${q(r.name)}' LACKS`);
      continue;
    }
    if (!check.ok) {
      throw new ToolkitError(
        'refused',
        `cannot make '${q(r.name)}' the master again: '${q(other.name)}' holds transactions it lacks: ${check.reason}`,
        `Bring back the server that holds the most ('datasource ${other.name} welcome'), then 'recover' the others.`,
      );
    }
  }
}

async function transition(ctx: OperationContext, task: TaskContext, r: DataSourceRecord, action: DataSourceAction): Promise<OperationResult> {
  const previous = r.state;
  switch (action) {
    case 'online':
    case 'welcome': {
      const obs = (await ctx.observeAll(task.signal)).get(r.name);
      if (!obs || obs.dataServer.state !== 'ONLINE') {
        throw new ToolkitError('refused', `cannot put '${ctx.qualified(r.name)}' online: its data server is ${obs?.dataServer.state ?? 'UNKNOWN'}`);
      }
      if (r.role === 'master' && ctx.master() === null) await requireMostAdvanced(ctx, task, r);
      else await followTheMaster(ctx, task, r, obs);
      r.state = 'ONLINE';
      r.fencedByMonitor = false;
      r.lastError = null;
      break;
    }
    case 'offline':
      r.state = 'OFFLINE';
      r.fencedByMonitor = false;
      break;
    case 'shun':
      r.state = 'SHUNNED';
      r.lastShunReason = 'MANUALLY-SHUNNED';
      r.fencedByMonitor = false;
      break;
    case 'fail':
      r.state = 'FAILED';
      r.lastError = `DATASOURCE '${ctx.qualified(r.name)}' MANUALLY FAILED`;
      r.fencedByMonitor = false;
      // A master an operator fails stops taking writes now: whatever it takes from here on, a failover loses.
      if (r === ctx.master()) await ctx.fenceNow(task, r.name);
      break;
    case 'recover':
      throw new Error('recover is planned separately');
  }
  ctx.changed();
  task.step(action === 'shun' || action === 'fail' ? `DataSource '${r.name}' set to ${r.state}` : `DataSource '${r.name}' is now ${r.state}`);
  await ctx.notifyRouters(task);
  return { datasource: r.name, from: previous, to: r.state };
}
