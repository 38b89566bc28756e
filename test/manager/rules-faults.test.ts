import { describe, expect, it } from 'vitest';
import type { Observation } from '../../src/manager/drivers/driver.js';
import { faultsOf } from '../../src/manager/rules.js';

const healthy: Observation = {
  host: 'alive',
  dataServer: { state: 'ONLINE', reason: null },
  managerUp: true,
  replicator: { state: 'ONLINE', role: 'slave', masterHost: 'db1', appliedSeqno: 5, storedSeqno: 5, appliedLatency: 0.1 },
  readOnly: true,
  connections: { active: 0, created: 0 },
  gtidState: null,
  inconclusive: null,
};

describe('faults an observation shows', () => {
  it('names a stopped database server as cctrl does, without the driver detail', () => {
    const faults = faultsOf({ ...healthy, dataServer: { state: 'STOPPED', reason: 'connection refused' } }, 'db3@alpha');
    expect(faults).toEqual([{ kind: 'dataserver', error: "DATASERVER 'db3@alpha' STOPPED", alert: 'DATASERVER STOPPED' }]);
  });

  it('carries the driver reason when the state alone says nothing (UNKNOWN: wrong password)', () => {
    const reason = "access denied for user 'tungsten': check mysql.user and mysql.password (or mysql.passwordFile)";
    const [fault] = faultsOf({ ...healthy, dataServer: { state: 'UNKNOWN', reason } }, 'db1@alpha');
    expect(fault).toEqual({ kind: 'dataserver', error: `DATASERVER 'db1@alpha' UNKNOWN: ${reason}`, alert: `DATASERVER UNKNOWN: ${reason}` });
  });

  it('reports a down host as one fault', () => {
    const faults = faultsOf({ ...healthy, host: 'unreachable', dataServer: { state: 'UNREACHABLE', reason: 'x' }, replicator: null }, 'db2@alpha');
    expect(faults.map((f) => f.kind)).toEqual(['host']);
  });
});
