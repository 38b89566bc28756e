/**
 * Switch and failover candidate selection: only ONLINE slaves whose manager is up, whose database
 * server answers and whose replicator is ONLINE, never archive or standby, within the maximum
 * latency. The highest applied seqno wins; ties go to the lower precedence, then the name.
 */
import type { Observation } from './drivers/driver.js';
import type { ResourceState, Role } from './model.js';

export interface CandidateInput {
  name: string;
  role: Role;
  state: ResourceState;
  precedence: number;
  observation: Observation | null;
}

export interface CandidateEvaluation {
  name: string;
  eligible: boolean;
  /** Why not, e.g. `SHUNNED`, `latency 950 s > 900 s`; null when eligible. */
  reason: string | null;
  appliedSeqno: number | null;
  storedSeqno: number | null;
  latency: number | null;
  precedence: number;
}

function ineligibility(c: CandidateInput, maxLatencySeconds: number): string | null {
  if (c.role === 'archive' || c.precedence === -1) return 'archive';
  if (c.role === 'standby') return 'standby';
  if (c.state !== 'ONLINE') return c.state;
  const obs = c.observation;
  if (!obs) return 'not observed yet';
  if (!obs.managerUp) return 'manager STOPPED';
  if (obs.dataServer.state !== 'ONLINE') return `dataserver ${obs.dataServer.state}`;
  if (!obs.replicator) return 'replicator status not available';
  if (obs.replicator.state !== 'ONLINE' && obs.replicator.state !== 'SYNCHRONIZING') return `replicator ${obs.replicator.state}`;
  if (obs.replicator.appliedLatency > maxLatencySeconds) {
    return `latency ${Math.round(obs.replicator.appliedLatency)} s > ${maxLatencySeconds} s`;
  }
  return null;
}

/** Every candidate, best first: eligible ones ranked, then the ineligible ones by name. */
export function evaluateCandidates(candidates: readonly CandidateInput[], maxLatencySeconds: number): CandidateEvaluation[] {
  const evaluated = candidates.map((c): CandidateEvaluation => {
    const reason = ineligibility(c, maxLatencySeconds);
    const r = c.observation?.replicator ?? null;
    return {
      name: c.name,
      eligible: reason === null,
      reason,
      appliedSeqno: r?.appliedSeqno ?? null,
      storedSeqno: r?.storedSeqno ?? null,
      latency: r?.appliedLatency ?? null,
      precedence: c.precedence,
    };
  });
  return evaluated.sort((a, b) => {
    if (a.eligible !== b.eligible) return a.eligible ? -1 : 1;
    if (a.eligible) {
      const byApplied = (b.appliedSeqno ?? 0) - (a.appliedSeqno ?? 0);
      if (byApplied !== 0) return byApplied;
      if (a.precedence !== b.precedence) return a.precedence - b.precedence;
    }
    return a.name.localeCompare(b.name);
  });
}

/** The winner, or the refusal naming the reason per candidate. */
export function selectCandidate(evaluated: readonly CandidateEvaluation[]): { name: string } | { refusal: string } {
  const best = evaluated.find((c) => c.eligible);
  if (best) return { name: best.name };
  if (evaluated.length === 0) return { refusal: 'no eligible slave: the service has no slave' };
  const reasons = [...evaluated].sort((a, b) => a.name.localeCompare(b.name)).map((c) => `${c.name} ${c.reason}`);
  return { refusal: `no eligible slave: ${reasons.join('; ')}` };
}
