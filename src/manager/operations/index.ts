/** Turns a ControlRequest into a checked, runnable operation (prechecks throw at once). */
import { ToolkitError } from '../../errors.js';
import { DATASOURCE_ACTIONS, FAULT_ACTIONS, POLICY_MODES, type ControlRequest } from '../model.js';
import type { OperationContext, OperationResult, TaskContext } from './context.js';
import { planDatasource } from './datasource.js';
import { planFailover } from './failover.js';
import { masterNotOnlineHint } from './master-hint.js';
import { planServiceRecover } from './recover.js';
import { planSwitch } from './switch.js';

export interface PlannedOperation {
  /** Holds the service's operation lock: a second exclusive operation meanwhile is a conflict. */
  exclusive: boolean;
  run(task: TaskContext): OperationResult | Promise<OperationResult>;
}

function oneOf<T extends string>(what: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ToolkitError('usage', `unknown ${what} '${String(value)}'`, `Use one of: ${allowed.join(', ')}.`);
}

export function planOperation(ctx: OperationContext, request: ControlRequest, opts: { automatic?: boolean } = {}): PlannedOperation {
  switch (request.op) {
    case 'switch':
      return planSwitch(ctx, request.target, request.dryRun === true);
    case 'failover':
      return planFailover(ctx, request.target, opts.automatic === true);
    case 'recover':
      return planServiceRecover(ctx);
    case 'datasource':
      return planDatasource(ctx, request.host, oneOf('datasource action', request.action, DATASOURCE_ACTIONS));
    case 'policy': {
      const mode = oneOf('policy', typeof request.mode === 'string' ? request.mode.toUpperCase() : request.mode, POLICY_MODES);
      if (mode === 'MAINTENANCE') return freezeAutomation(ctx);
      return {
        exclusive: true,
        run: (task) => {
          ctx.setPolicy(mode);
          task.step(`policy mode is now ${mode}`);
          return { policy: mode };
        },
      };
    }
    case 'heartbeat':
      return planHeartbeat(ctx);
    case 'replicator': {
      const action = oneOf('replicator action', request.action, ['online', 'offline'] as const);
      const cfg = ctx.configOf(request.host);
      return {
        exclusive: true,
        run: async (task) => {
          await ctx.call(task, `setting the replicator of ${cfg.name} ${action}`, (o) => ctx.driver.setReplicator(cfg, action === 'online', o));
          task.step(`REPLICATOR '${ctx.qualified(cfg.name)}' IS NOW ${action.toUpperCase()}`);
          return { replicator: cfg.name, state: action.toUpperCase() };
        },
      };
    }
    case 'fault': {
      const fault = oneOf('fault', request.fault, FAULT_ACTIONS);
      const cfg = ctx.configOf(request.host);
      const inject = ctx.driver.injectFault?.bind(ctx.driver);
      if (!inject) throw new ToolkitError('refused', `fault injection needs the simulated driver; this manager uses '${ctx.driver.kind}'`);
      // Not exclusive: injecting a fault during a switch is how a failing switch is rehearsed.
      return {
        exclusive: false,
        run: async (task) => {
          await inject(cfg, fault);
          task.step(`INJECTED FAULT ${fault.toUpperCase()} ON '${ctx.qualified(cfg.name)}'`);
          return { datasource: cfg.name, fault };
        },
      };
    }
    default:
      throw new ToolkitError('usage', `unknown operation '${String((request as { op?: unknown }).op)}'`);
  }
}

/**
 * `set policy maintenance` is taken while another operation runs: it freezes the rules at once,
 * mid-incident. An operation holding MAINTENANCE (a switch) then leaves it MAINTENANCE when it ends.
 */
function freezeAutomation(ctx: OperationContext): PlannedOperation {
  return {
    exclusive: false,
    run: (task) => {
      const held = ctx.heldPolicy();
      if (held) ctx.setPolicy('MAINTENANCE', { taskId: held.taskId, restore: 'MAINTENANCE' });
      else ctx.setPolicy('MAINTENANCE');
      task.step('policy mode is now MAINTENANCE');
      if (held) task.step(`task ${held.taskId}, running, held it already: it will leave it MAINTENANCE when it ends`);
      return { policy: 'MAINTENANCE' };
    },
  };
}

function planHeartbeat(ctx: OperationContext): PlannedOperation {
  const master = ctx.master();
  if (!master || master.state !== 'ONLINE') {
    throw new ToolkitError('refused', `cannot send a heartbeat: service '${ctx.service}' has no ONLINE master`, master ? masterNotOnlineHint(master) : undefined);
  }
  return {
    exclusive: true,
    run: async (task) => {
      const position = await ctx.call(task, `heartbeat through ${master.name}`, (o) => ctx.driver.heartbeat(ctx.configOf(master.name), o));
      task.step(`HEARTBEAT SENT THROUGH MASTER '${ctx.qualified(master.name)}' AT SEQNO ${position.seqno}`);
      return { master: master.name, seqno: position.seqno };
    },
  };
}
