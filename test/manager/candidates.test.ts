import { describe, expect, it } from 'vitest';
import { evaluateCandidates, selectCandidate, type CandidateInput, type EligibilityRules } from '../../src/manager/candidates.js';
import type { Observation } from '../../src/manager/drivers/driver.js';

const rules = (maxLatencySeconds = 900): EligibilityRules => ({ masterName: 'db1', mode: 'switch', maxLatencySeconds, masterGtidState: null });

function obs(applied: number, patch: Partial<Observation> = {}, latency = 0.5): Observation {
  return {
    host: 'alive',
    dataServer: { state: 'ONLINE', reason: null },
    managerUp: true,
    replicator: { state: 'ONLINE', role: 'slave', masterHost: 'db1', appliedSeqno: applied, storedSeqno: applied, appliedLatency: latency },
    readOnly: true,
    connections: { active: 0, created: 0 },
    gtidState: null,
    inconclusive: null,
    ...patch,
  };
}

function slave(name: string, applied: number, patch: Partial<CandidateInput> = {}, o: Partial<Observation> = {}, latency?: number): CandidateInput {
  return { name, role: 'slave', state: 'ONLINE', precedence: 99, observation: obs(applied, o, latency), ...patch };
}

describe('candidate selection', () => {
  it('picks the highest applied seqno', () => {
    expect(selectCandidate(evaluateCandidates([slave('db2', 10), slave('db3', 14)], rules()))).toEqual({ name: 'db3' });
  });

  it('breaks a seqno tie by lower precedence, then by name', () => {
    expect(selectCandidate(evaluateCandidates([slave('db2', 14), slave('db3', 14, { precedence: 1 })], rules()))).toEqual({ name: 'db3' });
    expect(selectCandidate(evaluateCandidates([slave('db3', 14), slave('db2', 14)], rules()))).toEqual({ name: 'db2' });
  });

  it('excludes shunned, failed, archive, standby, stopped manager or replicator, and latent slaves, with reasons', () => {
    const evaluated = evaluateCandidates(
      [
        slave('db2', 99, { state: 'SHUNNED' }),
        slave('db3', 99, {}, {}, 950),
        slave('db4', 99, { state: 'FAILED' }),
        slave('db5', 99, { role: 'archive', precedence: -1 }),
        slave('db6', 99, { role: 'standby' }),
        slave('db7', 99, {}, { managerUp: false }),
        slave('db8', 99, {}, { replicator: { ...obs(99).replicator!, state: 'STOPPED' } }),
        slave('db9', 99, {}, { dataServer: { state: 'STOPPED', reason: 'refused' } }),
      ],
      rules(),
    );
    expect(evaluated.map((c) => [c.name, c.eligible, c.reason])).toEqual([
      ['db2', false, 'SHUNNED'],
      ['db3', false, 'latency 950 s > 900 s'],
      ['db4', false, 'FAILED'],
      ['db5', false, 'archive'],
      ['db6', false, 'standby'],
      ['db7', false, 'manager STOPPED'],
      ['db8', false, 'replicator STOPPED'],
      ['db9', false, 'dataserver STOPPED'],
    ]);
    expect(selectCandidate(evaluateCandidates([slave('db2', 1, { state: 'SHUNNED' }), slave('db3', 1, {}, {}, 950)], rules()))).toEqual({
      refusal: 'no eligible slave: db2 SHUNNED; db3 latency 950 s > 900 s',
    });
  });

  it('prefers an eligible slave over a further-ahead ineligible one', () => {
    expect(selectCandidate(evaluateCandidates([slave('db2', 100, { state: 'SHUNNED' }), slave('db3', 5)], rules()))).toEqual({ name: 'db3' });
  });
});
