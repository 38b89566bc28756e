/** The monitor's decision as a pure function: observations and records in, actions out, nothing done. */
import { describe, expect, it } from 'vitest';
import { decide, type MonitorView, type Seen } from '../../src/manager/decide.js';
import type { Observation } from '../../src/manager/drivers/driver.js';
import { demoProperties } from '../../src/manager/properties.js';
import { faultsOf } from '../../src/manager/rules.js';
import type { DataSourceRecord } from '../../src/manager/store.js';

const props = demoProperties();
const T0 = 1_000_000;

function healthy(masterHost: string | null, readOnly: boolean): Observation {
  return {
    host: 'alive',
    dataServer: { state: 'ONLINE', reason: null },
    managerUp: true,
    replicator: { state: 'ONLINE', role: masterHost ? 'slave' : 'master', masterHost, appliedSeqno: 10, storedSeqno: 10, appliedLatency: 0.1 },
    readOnly,
    connections: { active: 0, created: 0 },
    gtidState: null,
    inconclusive: null,
  };
}
const stopped: Observation = { ...healthy(null, false), dataServer: { state: 'STOPPED', reason: 'refused' }, replicator: null, readOnly: null };

function record(name: string, role: DataSourceRecord['role'], extra: Partial<DataSourceRecord> = {}): DataSourceRecord {
  return { name, role, state: 'ONLINE', lastShunReason: null, lastError: null, fencedByMonitor: false, ...extra };
}

function view(records: DataSourceRecord[], obs: Record<string, Observation>, opts: Partial<MonitorView> & { since?: number } = {}): MonitorView {
  const seen = (name: string): Seen => {
    const o = obs[name] ?? null;
    const faults = o ? faultsOf(o, `${name}@alpha`) : [];
    return { obs: o, faults, faultSince: new Map(faults.map((f) => [f.kind, opts.since ?? T0])), readOnlySince: o?.readOnly ? (opts.since ?? T0) : null };
  };
  return { now: T0, policy: 'AUTOMATIC', props, service: 'alpha', records, seen, operationRunning: false, repairing: new Set(), groupMembers: null, leaseTtlMs: null, ...opts };
}

const cluster = () => [record('db1', 'master'), record('db2', 'slave'), record('db3', 'slave')];
const healthyObs = { db1: healthy(null, false), db2: healthy('db1', true), db3: healthy('db1', true) };

describe('decide', () => {
  it('a healthy cluster: nothing to do, and the records given are not modified', () => {
    const records = cluster();
    expect(decide(view(records, healthyObs))).toEqual([]);
    expect(records).toEqual(cluster());
  });

  it('a stopped master fails only once its interval has passed, and then is due to be failed over in the same decision', () => {
    const obs = { ...healthyObs, db1: stopped };
    expect(decide(view(cluster(), obs, { now: T0 + 19_999 }))).toEqual([]);
    const actions = decide(view(cluster(), obs, { now: T0 + 20_000 }));
    expect(actions.map((a) => a.kind)).toEqual(['verdict', 'failover']);
    expect(actions[0]).toMatchObject({ name: 'db1', set: { state: 'FAILED', fencedByMonitor: true } });
  });

  it('MANUAL fails the master but never fails it over; MAINTENANCE decides nothing', () => {
    const obs = { ...healthyObs, db1: stopped };
    expect(decide(view(cluster(), obs, { now: T0 + 20_000, policy: 'MANUAL' })).map((a) => a.kind)).toEqual(['verdict']);
    expect(decide(view(cluster(), obs, { now: T0 + 20_000, policy: 'MAINTENANCE' }))).toEqual([]);
  });

  it('a slave following another server is repointed; nothing is repaired while an operation runs or a repair is in flight', () => {
    const obs = { ...healthyObs, db3: healthy('db2', true) };
    expect(decide(view(cluster(), obs))).toEqual([expect.objectContaining({ kind: 'repoint', name: 'db3', master: 'db1', thenOnline: false })]);
    expect(decide(view(cluster(), obs, { operationRunning: true }))).toEqual([]);
    expect(decide(view(cluster(), obs, { repairing: new Set(['db3']) }))).toEqual([]);
  });

  it('in a group, a read-only master with no member beside it is FAILED (FAILSAFE-SHUN), and ONLINE again when its manager is back', () => {
    const obs = { ...healthyObs, db1: healthy(null, true) };
    const others = [{ name: 'm2', datasource: 'db2' }, { name: 'm3', datasource: 'db3' }];
    const failed = decide(view(cluster(), obs, { groupMembers: others }));
    expect(failed[0]).toMatchObject({ kind: 'verdict', name: 'db1', set: { state: 'FAILED', lastError: expect.stringMatching(/^FAILSAFE-SHUN/) } });
    expect(failed.map((a) => a.kind)).toContain('failover');
    const shunned = [record('db1', 'master', { state: 'FAILED', lastError: 'FAILSAFE-SHUN: …' }), record('db2', 'slave'), record('db3', 'slave')];
    const back = decide(view(shunned, obs, { groupMembers: [...others, { name: 'm1', datasource: 'db1' }] }));
    expect(back.map((a) => a.kind)).toEqual(['verdict', 'allow-writes']);
  });

  it('in a group, a read-only master whose manager is still registered gets its writes back only once it has been read-only longer than a lease (its manager may have fenced it, cut off from etcd)', () => {
    const obs = { ...healthyObs, db1: healthy(null, true) };
    const members = [{ name: 'm1', datasource: 'db1' }, { name: 'm2', datasource: 'db2' }, { name: 'm3', datasource: 'db3' }];
    const at = (now: number) => decide(view(cluster(), obs, { groupMembers: members, leaseTtlMs: 3000, since: T0, now }));
    expect(at(T0 + 3000)).toEqual([]);
    expect(at(T0 + 3001)).toEqual([expect.objectContaining({ kind: 'allow-writes', name: 'db1', then: 'noted' })]);
  });
});
