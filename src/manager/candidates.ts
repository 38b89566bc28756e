/**
 * Switch and failover candidate selection. A slave is eligible only when the manager has it ONLINE,
 * its manager is up and its database server answers, it replicates from the master being replaced
 * (not from anything else), its replication runs (for a switch both threads; for a failover the
 * applier, while the receiver reconnects to the dead master), its lag is known and within the
 * maximum, and it holds no transaction the master lacks. Never archive or standby.
 * The most received transactions win; ties go to the most applied, the lower precedence, the name.
 */
import type { Observation } from './drivers/driver.js';
import { errantTransactions } from './errant.js';
import type { ResourceState, Role } from './model.js';

export interface CandidateInput {
  name: string;
  role: Role;
  state: ResourceState;
  precedence: number;
  observation: Observation | null;
  /**
   * The last lag (seconds) seen while replication ran, for a failover: once the master is gone a
   * slave's current lag is unknown (MariaDB's NULL Seconds_Behind_Master). Default: none known.
   */
  lastKnownLatency?: number | null;
}

export interface EligibilityRules {
  /** The master the candidate must replicate from (for a failover, the failed one). */
  masterName: string;
  /** 'switch': the master is alive. 'failover': it is gone, receivers may be reconnecting. */
  mode: 'switch' | 'failover';
  maxLatencySeconds: number;
  /** The master's GTID state as last seen, to find errant transactions; null when never seen. */
  masterGtidState: string | null;
  /** The master's server_id: its own writes newer than its last seen state are not errant. */
  masterServerId?: number | null;
  /** Every datasource's latest GTID state, by name: a slave's own writes that no other holds are errant. */
  gtidStates?: ReadonlyMap<string, string | null>;
  /**
   * An operator's failover may promote a slave whose lag was never seen (the manager started after
   * the master died); the task then says the loss is unknown. Never for the automatic one.
   */
  acceptUnknownLag?: boolean;
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

/** The lag the rules judge: the current one for a switch, the last one seen before the master died for a failover. */
function judgedLatency(c: CandidateInput, rules: EligibilityRules): number | null {
  const current = c.observation?.replicator?.appliedLatency ?? null;
  if (current !== null && current >= 0) return current;
  return rules.mode === 'failover' ? (c.lastKnownLatency ?? null) : null;
}

function ineligibility(c: CandidateInput, rules: EligibilityRules): string | null {
  if (c.role === 'archive' || c.precedence === -1) return 'archive';
  if (c.role === 'standby') return 'standby';
  if (c.state !== 'ONLINE') return c.state;
  const obs = c.observation;
  if (!obs) return 'not observed yet';
  if (!obs.managerUp) return 'manager STOPPED';
  if (obs.dataServer.state !== 'ONLINE') return `dataserver ${obs.dataServer.state}`;
  const rep = obs.replicator;
  if (!rep) return 'replicator status not available';
  if (rep.role !== 'slave' || rep.masterHost === null) return 'not replicating from any master';
  if (rep.masterHost !== rules.masterName) return `replicates from ${rep.masterHost}, not from the master ${rules.masterName}`;
  const running = rules.mode === 'switch' ? rep.state === 'ONLINE' : rep.state === 'ONLINE' || rep.state === 'SYNCHRONIZING';
  if (!running) return `replicator ${rep.state}`;
  const latency = judgedLatency(c, rules);
  if (latency === null && !(rules.mode === 'failover' && rules.acceptUnknownLag)) return 'replication lag unknown';
  if (latency !== null && latency > rules.maxLatencySeconds) return `latency ${Math.round(latency)} s > ${rules.maxLatencySeconds} s`;
  const peers = [...(rules.gtidStates ?? new Map<string, string | null>())].filter(([name]) => name !== c.name && name !== rules.masterName).map(([, state]) => state);
  const errant = errantTransactions({ slave: obs.gtidState, slaveServerId: obs.serverId, master: rules.masterGtidState, masterServerId: rules.masterServerId, peers });
  if (errant.length > 0) return `errant transactions ${errant.join(',')} not on ${rules.masterName}`;
  return null;
}

/** Every candidate, best first: eligible ones ranked, then the ineligible ones by name. */
export function evaluateCandidates(candidates: readonly CandidateInput[], rules: EligibilityRules): CandidateEvaluation[] {
  const evaluated = candidates.map((c): CandidateEvaluation => {
    const reason = ineligibility(c, rules);
    const r = c.observation?.replicator ?? null;
    return {
      name: c.name,
      eligible: reason === null,
      reason,
      appliedSeqno: r?.appliedSeqno ?? null,
      storedSeqno: r?.storedSeqno ?? null,
      latency: judgedLatency(c, rules),
      precedence: c.precedence,
    };
  });
  return evaluated.sort((a, b) => {
    if (a.eligible !== b.eligible) return a.eligible ? -1 : 1;
    if (a.eligible) {
      const byStored = (b.storedSeqno ?? 0) - (a.storedSeqno ?? 0);
      if (byStored !== 0) return byStored;
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
