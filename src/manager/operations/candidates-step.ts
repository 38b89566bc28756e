/** The candidate evaluation step shared by switch and failover, with cctrl's EVALUATING lines. */
import { evaluateCandidates, type CandidateEvaluation, type EligibilityRules } from '../candidates.js';
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
  masterName: string,
  mode: EligibilityRules['mode'],
  target?: string,
  acceptUnknownLag = false,
): CandidateEvaluation[] {
  const inputs = ctx.candidateInputs(masterName, target).map((c) => ({ ...c, observation: observations.get(c.name) ?? null }));
  const evaluated = evaluateCandidates(inputs, { ...ctx.eligibilityRules(masterName, mode), acceptUnknownLag });
  for (const c of evaluated) {
    if (c.eligible) {
      task.step(`EVALUATING SLAVE: ${c.name}(stored=${c.storedSeqno}, applied=${c.appliedSeqno}, latency=${latencyText(c.latency)}, datasource-group-id=0)`);
    } else {
      task.step(`SLAVE '${ctx.qualified(c.name)}' IS NOT ELIGIBLE: ${c.reason}`);
    }
  }
  return evaluated;
}
