/** The candidate evaluation step shared by switch and failover, with cctrl's EVALUATING lines. */
import { evaluateCandidates, type CandidateEvaluation } from '../candidates.js';
import type { Observation } from '../drivers/driver.js';
import type { OperationContext, TaskContext } from './context.js';

function latencyText(l: number | null): string {
  return l === null ? '-' : l.toFixed(3);
}

/**
 * Evaluates the slaves of the service and logs one line per candidate. A named `target` is
 * evaluated whatever its role, so a shunned old master is refused for its state.
 */
export function evaluateAndLog(
  ctx: OperationContext,
  task: TaskContext,
  observations: Map<string, Observation>,
  exclude: string,
  target?: string,
): CandidateEvaluation[] {
  const inputs = ctx
    .records()
    .filter((r) => r.name !== exclude && (target === undefined ? r.role !== 'master' : r.name === target))
    .map((r) => ({ name: r.name, role: r.role, state: r.state, precedence: ctx.configOf(r.name).precedence, observation: observations.get(r.name) ?? null }));
  const evaluated = evaluateCandidates(inputs, ctx.props.policy.slaveMaxLatencySeconds);
  for (const c of evaluated) {
    if (c.eligible) {
      task.step(`EVALUATING SLAVE: ${c.name}(stored=${c.storedSeqno}, applied=${c.appliedSeqno}, latency=${latencyText(c.latency)}, datasource-group-id=0)`);
    } else {
      task.step(`SLAVE '${ctx.qualified(c.name)}' IS NOT ELIGIBLE: ${c.reason}`);
    }
  }
  return evaluated;
}
