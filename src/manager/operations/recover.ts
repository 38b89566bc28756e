/**
 * recover: the service's FAILED and SHUNNED datasources come back as slaves of the current master,
 * each only when its server answers and the driver confirms it can rejoin without diverging.
 * `datasource HOST recover` does the same for one datasource.
 */
import { ToolkitError } from '../../errors.js';
import type { DataSourceRecord } from '../store.js';
import type { OperationContext, OperationResult, TaskContext } from './context.js';
import { masterNotOnlineHint } from './master-hint.js';
import { holdMaintenance } from './policy-hold.js';

function onlineMaster(ctx: OperationContext): DataSourceRecord {
  const master = ctx.master();
  if (!master || master.state !== 'ONLINE') {
    throw new ToolkitError('refused', `cannot recover: service '${ctx.service}' has no ONLINE master`, master ? masterNotOnlineHint(master) : "Run 'failover' first.");
  }
  return master;
}

export function planServiceRecover(ctx: OperationContext) {
  const master = onlineMaster(ctx);
  return {
    exclusive: true,
    run: async (task: TaskContext): Promise<OperationResult> => {
      task.step(`RECOVERING DATASERVICE '${ctx.service}'`);
      const outcome = await holdMaintenance(ctx, task, async () => {
        const targets = ctx.records().filter((r) => r.state === 'FAILED' || r.state === 'SHUNNED');
        if (targets.length === 0) task.step(`NO DATASOURCES TO RECOVER IN SERVICE '${ctx.service}'`);
        const recovered: string[] = [];
        const failures: string[] = [];
        for (const r of targets) {
          task.step(`FOUND PHYSICAL DATASOURCE TO RECOVER: '${ctx.qualified(r.name)}'`);
          task.step(`RECOVERING DATASOURCE '${ctx.qualified(r.name)}'`);
          try {
            await recoverAsSlave(ctx, task, r, master.name, true);
            recovered.push(r.name);
          } catch (e) {
            const reason = e instanceof Error ? e.message : String(e);
            task.step(`RECOVERY OF '${ctx.qualified(r.name)}' FAILED: ${reason}`);
            failures.push(`${r.name}: ${reason}`);
          }
        }
        task.step(`RECOVERY OF DATA SERVICE '${ctx.service}' ${failures.length === 0 ? 'SUCCEEDED' : 'FAILED'}`);
        return { recovered, failures };
      });
      task.step(`RECOVERED ${outcome.recovered.length} DATA SOURCES IN SERVICE '${ctx.service}'`);
      if (outcome.failures.length > 0) {
        throw new ToolkitError('refused', `recovered ${outcome.recovered.length}, could not recover ${outcome.failures.join('; ')}`);
      }
      return { recovered: outcome.recovered };
    },
  };
}

/** `datasource HOST recover` on a FAILED or SHUNNED datasource. */
export function planDatasourceRecover(ctx: OperationContext, r: DataSourceRecord) {
  const master = ctx.master();
  if (master === r && r.state === 'FAILED') {
    // The failed master itself, never failed over: it takes its place again once its server answers.
    return {
      exclusive: true,
      run: async (task: TaskContext): Promise<OperationResult> => {
        await verifyServer(ctx, task, r.name);
        await ctx.call(task, `allowing writes on ${r.name}`, (o) => ctx.driver.allowWrites(ctx.configOf(r.name), o));
        r.state = 'ONLINE';
        r.lastError = null;
        r.fencedByMonitor = false;
        ctx.changed();
        await ctx.notifyRouters(task);
        task.step(`RECOVERY OF '${ctx.qualified(r.name)}' WAS SUCCESSFUL`);
        return { recovered: [r.name] };
      },
    };
  }
  const current = onlineMaster(ctx);
  return {
    exclusive: true,
    run: async (task: TaskContext): Promise<OperationResult> => {
      await recoverAsSlave(ctx, task, r, current.name, false);
      task.step(`RECOVERY OF '${ctx.qualified(r.name)}' WAS SUCCESSFUL`);
      return { recovered: [r.name] };
    },
  };
}

async function verifyServer(ctx: OperationContext, task: TaskContext, name: string): Promise<void> {
  task.step(`VERIFYING THAT WE CAN CONNECT TO DATA SERVER '${name}'`);
  const obs = (await ctx.observeAll(task.signal)).get(name);
  if (!obs || obs.dataServer.state !== 'ONLINE') {
    throw new Error(`data server '${name}' is ${obs?.dataServer.state ?? 'UNKNOWN'}${obs?.dataServer.reason ? ` (${obs.dataServer.reason})` : ''}`);
  }
  task.step(`DATA SERVER '${name}' IS NOW AVAILABLE FOR CONNECTIONS`);
}

async function recoverAsSlave(ctx: OperationContext, task: TaskContext, r: DataSourceRecord, masterName: string, verbose: boolean): Promise<void> {
  const q = ctx.qualified.bind(ctx);
  await verifyServer(ctx, task, r.name);
  if (verbose) task.step(`Verified that DB server notification '${r.name}' is in state 'ONLINE'`);
  const cfg = ctx.configOf(r.name);
  const masterCfg = ctx.configOf(masterName);
  const check = await ctx.call(task, `checking that ${r.name} can rejoin`, (o) => ctx.driver.checkRejoin(cfg, masterCfg, o));
  if (!check.ok) throw new Error(`cannot rejoin '${q(masterName)}': ${check.reason}`);
  task.step(`RECOVERING '${q(r.name)}' TO A SLAVE USING '${q(masterName)}' AS THE MASTER`);
  await ctx.call(task, `making ${r.name} a slave of ${masterName}`, (o) => ctx.driver.replicateFrom(cfg, masterCfg, o));
  if (r.role !== 'slave' && r.role !== 'standby' && r.role !== 'archive') {
    task.step(`SETTING THE ROLE OF DATASOURCE '${q(r.name)}' FROM '${r.role}' TO 'slave'`);
    r.role = 'slave';
  }
  r.state = 'ONLINE';
  r.lastError = null;
  r.lastShunReason = null;
  r.fencedByMonitor = false;
  ctx.changed();
  await ctx.notifyRouters(task);
}
